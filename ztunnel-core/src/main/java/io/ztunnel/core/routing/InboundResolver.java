package io.ztunnel.core.routing;

import io.netty.handler.codec.http.HttpResponseStatus;
import io.ztunnel.core.net.Addresses;
import io.ztunnel.core.net.HboneAddress;
import io.ztunnel.core.state.GatewayAddress;
import io.ztunnel.core.state.NamespacedHostname;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Validates an inbound HBONE CONNECT and finds where it goes in the local workload, as Istio's ztunnel does:
 *
 * <ul>
 *   <li>IP authority: an illegal port is a 400; the authority IP must be the IP the connection arrived on, except when
 *       the local workload has an application tunnel, or the target (a service VIP or workload IP) names the local
 *       workload as its waypoint; otherwise 400 (IP mismatch). The upstream is {@code <arrival IP>:<authority port>}.
 *   <li>Host-name authority (double HBONE, through a network gateway): the service with that host name (the local
 *       workload's namespace first; a namespace-visible service of another namespace does not count) — unknown is a
 *       503; its port maps to a target port through the local workload's endpoint port map, then the service's
 *       numeric target port — no mapping is a 503; an illegal resolved port is a 503.
 *   <li>An application tunnel's port, when set, replaces the upstream port.
 *   <li>A {@code PROXY} application tunnel also names the destination its PROXY header carries: the authority's
 *       {@code ip:port}, or for a host name a VIP of the service (this network's IPv4 first, then its IPv6, then any
 *       other) with the authority's port; a service without a VIP is a 503.
 * </ul>
 *
 * <p>Stateless and thread-safe.
 */
public final class InboundResolver {
    private final RoutingConfig config;

    public InboundResolver(RoutingConfig config) {
        this.config = config;
    }

    /** Where to connect, and the services the target belongs to (for telemetry). */
    public sealed interface Result {}

    /**
     * @param proxyDestination the destination the PROXY v2 header names, when the local workload asks for a
     *     {@code PROXY} application tunnel; {@code null} otherwise
     */
    public record Target(
            InetSocketAddress upstream,
            List<Service> services,
            @Nullable InetSocketAddress proxyDestination) implements Result {
        public Target(InetSocketAddress upstream, List<Service> services) {
            this(upstream, services, null);
        }
    }

    public record Failure(HttpResponseStatus status, String reason) implements Result {}

    public Result resolve(ProxyState state, Workload local, InetSocketAddress arrivedOn, HboneAddress target) {
        InetAddress localIp = Addresses.canonical(arrivedOn.getAddress());
        int port;
        List<Service> services;
        Workload.ApplicationTunnel tunnel = local.applicationTunnel();
        boolean proxyProtocol = tunnel != null && tunnel.protocol() == Workload.ApplicationTunnel.Protocol.PROXY;
        InetSocketAddress proxyDestination = null;
        if (target instanceof HboneAddress.Ip ip) {
            port = ip.port();
            if (config.illegalPorts().contains(port)) {
                return new Failure(HttpResponseStatus.BAD_REQUEST, "call to a ztunnel port (" + port + ") refused");
            }
            InetAddress authorityIp = ip.address().getAddress();
            if (!authorityIp.equals(localIp)
                    && local.applicationTunnel() == null
                    && !targetsUsAsWaypoint(state, local, localIp, authorityIp)) {
                return new Failure(
                        HttpResponseStatus.BAD_REQUEST,
                        "ip mismatch: connection to " + localIp.getHostAddress() + " asked for "
                                + authorityIp.getHostAddress());
            }
            services = state.servicesOf(local);
            if (proxyProtocol) {
                proxyDestination = new InetSocketAddress(Addresses.canonical(authorityIp), ip.port());
            }
        } else {
            HboneAddress.Host host = (HboneAddress.Host) target;
            Service service = serviceByHostname(state, host.hostname(), local.namespace());
            if (service == null) {
                return new Failure(HttpResponseStatus.SERVICE_UNAVAILABLE, "unknown service " + host.hostname());
            }
            port = mappedPort(state, service, local, host.port());
            if (port == 0) {
                return new Failure(
                        HttpResponseStatus.SERVICE_UNAVAILABLE,
                        "service " + service.key() + " port " + host.port() + " has no target port for " + local.uid());
            }
            if (config.illegalPorts().contains(port)) {
                return new Failure(
                        HttpResponseStatus.SERVICE_UNAVAILABLE, "call to a ztunnel port (" + port + ") refused");
            }
            services = List.of(service);
            if (proxyProtocol) {
                InetAddress vip = preferredVip(service, local.network());
                if (vip == null) {
                    return new Failure(
                            HttpResponseStatus.SERVICE_UNAVAILABLE,
                            "service " + service.key() + " has no VIP for the PROXY header");
                }
                proxyDestination = new InetSocketAddress(vip, host.port());
            }
        }
        if (tunnel != null && tunnel.port() != 0) {
            port = tunnel.port();
        }
        return new Target(new InetSocketAddress(localIp, port), services, proxyDestination);
    }

    /** A VIP of {@code service}: on {@code network} IPv4 first, then IPv6, then the first on another network. */
    private static @Nullable InetAddress preferredVip(Service service, String network) {
        InetAddress v6 = null;
        InetAddress other = null;
        for (NetworkAddress vip : service.vips()) {
            InetAddress a = Addresses.canonical(vip.address());
            if (!vip.network().equals(network)) {
                other = other == null ? a : other;
            } else if (a instanceof Inet4Address) {
                return a;
            } else {
                v6 = v6 == null ? a : v6;
            }
        }
        return v6 != null ? v6 : other;
    }

    /** The local namespace's service of that name, else the first other one visible from it. */
    private static @Nullable Service serviceByHostname(ProxyState state, String hostname, String localNamespace) {
        Service visible = null;
        for (Service s : state.servicesByHostname(hostname)) {
            if (s.namespace().equals(localNamespace)) {
                return s;
            }
            if (visible == null && s.visibleTo(localNamespace)) {
                visible = s;
            }
        }
        return visible;
    }

    private static int mappedPort(ProxyState state, Service service, Workload local, int servicePort) {
        for (ProxyState.Endpoint e : state.endpoints(service)) {
            if (e.workload().uid().equals(local.uid())) {
                int mapped = e.ports().getOrDefault(servicePort, 0);
                if (mapped != 0) {
                    return mapped;
                }
            }
        }
        Integer target = service.ports().get(servicePort);
        return target == null ? 0 : target;
    }

    /** Whether the service or workload at {@code authorityIp} has the local workload as its waypoint. */
    private boolean targetsUsAsWaypoint(
            ProxyState state, Workload local, InetAddress localIp, InetAddress authorityIp) {
        NetworkAddress address = new NetworkAddress(config.network(), authorityIp);
        GatewayAddress waypoint = null;
        List<Service> services = state.servicesByVip(address);
        if (!services.isEmpty()) {
            waypoint = services.getFirst().waypoint();
        } else {
            Workload workload = state.workloadByAddress(address);
            if (workload != null) {
                waypoint = workload.waypoint();
            }
        }
        if (waypoint == null) {
            return false;
        }
        if (waypoint.destination() instanceof GatewayAddress.Address a) {
            Workload w = state.workloadByAddress(a.address());
            if (w != null) {
                return w.addresses().contains(localIp);
            }
            for (Service s : state.servicesByVip(a.address())) {
                if (hasEndpoint(state, s, local)) {
                    return true;
                }
            }
            return false;
        }
        NamespacedHostname name = ((GatewayAddress.Hostname) waypoint.destination()).hostname();
        Service s = state.service(name);
        if (s != null) {
            return hasEndpoint(state, s, local);
        }
        // A waypoint named by host name may also be a workload with that host name (as outbound resolves it).
        return !local.hostname().isEmpty()
                && local.hostname().equals(name.hostname())
                && local.namespace().equals(name.namespace());
    }

    private static boolean hasEndpoint(ProxyState state, Service service, Workload workload) {
        for (ProxyState.Endpoint e : state.endpoints(service)) {
            if (e.workload().uid().equals(workload.uid())) {
                return true;
            }
        }
        return false;
    }
}
