package io.ztunnel.core.routing;

import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.state.GatewayAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Routes to a workload on another network through that network's gateway (double HBONE), as Istio's ztunnel does:
 *
 * <ul>
 *   <li>The traffic must be service-addressed (else "no service"), and the remote workload must name a network
 *       gateway (else "no valid destination").
 *   <li>A gateway given as {@code network/IP}: a service VIP on that network, load-balanced on the service port equal
 *       to the gateway's HBONE port and port-mapped like any service endpoint; else the workload with that IP, at the
 *       HBONE port. The address family is the gateway IP's. A gateway given as {@code namespace/hostname}: that service
 *       (load-balanced the same way), else a workload with that host name; the family follows the original
 *       destination. Nothing found is "unknown network gateway" (no on-demand lookup).
 *   <li>The gateway must present one of its service's SANs or its workload's identity; the far end one of the remote
 *       service's SANs only (no SANs: refused). Both CONNECTs carry {@code <service host name>:<service port>}.
 * </ul>
 *
 * <p>Thread-safe if the picker is; stateless otherwise.
 */
final class NetworkGateways {

    /** Picks one endpoint among candidates (the router's weighted random choice). */
    @FunctionalInterface
    interface Picker {
        ProxyState.Endpoint pick(List<ProxyState.Endpoint> endpoints);
    }

    private final Picker picker;

    NetworkGateways(Picker picker) {
        this.picker = picker;
    }

    /**
     * The double-HBONE route to {@code remote}, or a refusal.
     *
     * @param remote the workload picked on the other network (a service endpoint, or a waypoint)
     * @param service the destination service, or {@code null} when the traffic was workload-addressed
     * @param sanService the service whose SANs the far end must present: the destination service, or the waypoint's
     * @param destination what the client dialled (its port is the service port)
     * @param viaWaypoint whether {@code remote} is a waypoint
     */
    Route route(
            ProxyState state,
            Workload remote,
            @Nullable Service service,
            @Nullable Service sanService,
            InetSocketAddress destination,
            boolean viaWaypoint) {
        if (service == null) {
            return new Route.Refuse("no service: workload " + remote.uid() + " is on network \"" + remote.network()
                    + "\" and only service-addressed traffic can go through a network gateway");
        }
        GatewayAddress gateway = remote.networkGateway();
        if (gateway == null) {
            return new Route.Refuse("no valid destination: workload " + remote.uid() + " is on network \""
                    + remote.network() + "\" and has no network gateway");
        }
        Target target = resolve(state, gateway, destination.getAddress());
        if (target == null) {
            return new Route.Refuse(
                    "unknown network gateway " + gateway.destination() + " for workload " + remote.uid());
        }
        List<SpiffeId> inner = identities(sanService == null ? List.of() : sanService.subjectAltNames());
        if (inner.isEmpty()) {
            return new Route.Refuse("no identities to verify workload " + remote.uid() + " behind network gateway "
                    + gateway.destination() + ": service "
                    + (sanService == null ? "(none)" : sanService.key()) + " has no subject alternative names");
        }
        List<SpiffeId> outer = OutboundRouter.expectedIdentities(
                target.service() == null ? List.of() : target.service().subjectAltNames(), target.workload());
        return new Route.DoubleHbone(
                target.address(),
                outer,
                target.workload(),
                inner,
                service.hostname() + ":" + destination.getPort(),
                remote,
                service,
                viaWaypoint);
    }

    /** A resolved gateway: where to dial, the workload there, and its service if it was reached through one. */
    private record Target(
            InetSocketAddress address,
            Workload workload,
            @Nullable Service service) {}

    private @Nullable Target resolve(ProxyState state, GatewayAddress gateway, InetAddress dialled) {
        int port = gateway.hboneMtlsPort();
        if (gateway.destination() instanceof GatewayAddress.Address a) {
            InetAddress gatewayIp = a.address().address();
            List<Service> byVip = state.servicesByVip(a.address());
            if (!byVip.isEmpty()) {
                return viaService(state, byVip.getFirst(), port, gatewayIp);
            }
            Workload workload = state.workloadByAddress(a.address());
            return workload == null ? null : new Target(new InetSocketAddress(gatewayIp, port), workload, null);
        }
        GatewayAddress.Hostname h = (GatewayAddress.Hostname) gateway.destination();
        Service service = state.service(h.hostname());
        if (service != null) {
            return viaService(state, service, port, dialled);
        }
        for (Workload w : state.workloads()) {
            if (w.hostname().equals(h.hostname().hostname())
                    && w.namespace().equals(h.hostname().namespace())) {
                InetAddress ip = OutboundRouter.chooseIp(w, dialled, Service.IpFamilies.AUTOMATIC);
                return ip == null ? null : new Target(new InetSocketAddress(ip, port), w, null);
            }
        }
        return null;
    }

    /** Load-balances the gateway service on its port {@code port}; {@code family} says which address family to use. */
    private @Nullable Target viaService(ProxyState state, Service service, int port, InetAddress family) {
        Integer serviceTarget = service.ports().get(port);
        if (serviceTarget == null) {
            return null;
        }
        List<ProxyState.Endpoint> candidates = new ArrayList<>();
        for (ProxyState.Endpoint e : state.endpoints(service)) {
            Workload w = e.workload();
            if (w.status() != Workload.HealthStatus.HEALTHY || w.addresses().isEmpty()) {
                continue;
            }
            if (e.ports().getOrDefault(port, 0) == 0 && serviceTarget == 0) {
                continue;
            }
            candidates.add(e);
        }
        if (candidates.isEmpty()) {
            return null;
        }
        ProxyState.Endpoint chosen = picker.pick(candidates);
        InetAddress ip = OutboundRouter.chooseIp(chosen.workload(), family, service.ipFamilies());
        if (ip == null) {
            return null;
        }
        int target = OutboundRouter.targetPort(chosen, port, serviceTarget);
        return new Target(new InetSocketAddress(ip, target), chosen.workload(), service);
    }

    private static List<SpiffeId> identities(List<String> sans) {
        List<SpiffeId> out = new ArrayList<>();
        for (String san : sans) {
            SpiffeId id = SpiffeId.tryParse(san);
            if (id != null && !out.contains(id)) {
                out.add(id);
            }
        }
        return out;
    }
}
