package io.ztunnel.core.routing;

import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.net.Addresses;
import io.ztunnel.core.state.GatewayAddress;
import io.ztunnel.core.state.NamespacedHostname;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Service.LoadBalancing;
import io.ztunnel.core.state.Workload;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.random.RandomGenerator;
import org.jspecify.annotations.Nullable;

/**
 * Outbound destination resolution, as Istio's ztunnel does it (section 3.3 of the reference):
 *
 * <ol>
 *   <li>A loopback destination on an illegal port is refused (no loops through ourselves).
 *   <li>A service VIP ({@code network/IP}, services not visible to the client's namespace ignored; then the client's
 *       namespace, {@code canonical}, the preferred namespace, the first; CIDR VIPs by longest prefix as fallback):
 *       its waypoint if it has one (a weighted waypoint drawn per connection, else {@code waypoint}; always, even for
 *       the waypoint's own traffic); PASSTHROUGH services go to the original
 *       destination; otherwise the service must define the port, and an endpoint is picked among healthy ones
 *       (unless ALLOW_ALL), ranked by the routing preference scopes for STRICT/FAILOVER, at random weighted by
 *       {@code capacity}. Target port: the endpoint's port map, then the service's target port, then the service port
 *       for application-tunnel workloads. IP: the original one if the workload has it, else one allowed by the
 *       service's IP families, same family first.
 *   <li>A pod IP: that workload (its waypoint for workload-addressed traffic, unless the client is the waypoint).
 *       Waypoints resolve as {@link #resolveGateway} says; one that does not is an unknown-waypoint refusal.
 *   <li>Anything else: plain TCP passthrough.
 *   <li>A workload picked on another network (a service endpoint, or a service's waypoint) is reached through its
 *       network's gateway: {@link NetworkGateways}.
 *   <li>HBONE workloads are reached at {@code ip:15008} with {@code :authority = ip:targetPort} and the service's SANs
 *       plus the workload's identity as acceptable server identities; others with plain TCP to {@code ip:targetPort}.
 * </ol>
 *
 * <p>Thread-safe if the random generator is; stateless otherwise.
 */
public final class OutboundRouter {
    private final RoutingConfig config;
    private final RandomGenerator random;
    private final NetworkGateways gateways;

    public OutboundRouter(RoutingConfig config, RandomGenerator random) {
        this.config = config;
        this.random = random;
        this.gateways = new NetworkGateways(this::pick);
    }

    public Route route(ProxyState state, Workload source, InetSocketAddress destination) {
        InetAddress dstIp = Addresses.canonical(destination.getAddress());
        int port = destination.getPort();
        if (dstIp.isLoopbackAddress() && config.illegalPorts().contains(port)) {
            return new Route.Refuse("call to a ztunnel port (" + port + ") refused");
        }
        NetworkAddress address = new NetworkAddress(source.network(), dstIp);
        Service service = selectService(state, address, source.namespace());
        if (service != null) {
            return viaService(state, source, destination, dstIp, port, service);
        }
        Workload workload = state.workloadByAddress(address);
        if (workload == null) {
            return new Route.Passthrough(destination, null);
        }
        if (workload.waypoint() != null) {
            WaypointRoute waypoint =
                    waypointRoute(state, source, workload.waypoint(), destination, null, workload, true);
            if (waypoint.route() != null) {
                return waypoint.route();
            }
        }
        return toWorkload(source, workload, null, dstIp, port);
    }

    private Route viaService(
            ProxyState state,
            Workload source,
            InetSocketAddress destination,
            InetAddress dstIp,
            int port,
            Service service) {
        GatewayAddress waypoint = chooseWaypoint(service);
        if (waypoint != null) {
            // A service's waypoint always applies, even when the client is that waypoint.
            WaypointRoute route = waypointRoute(state, source, waypoint, destination, service, null, false);
            if (route.route() != null) {
                return route.route();
            }
        }
        LoadBalancing lb = service.loadBalancing();
        if (lb != null && lb.mode() == LoadBalancing.Mode.PASSTHROUGH) {
            return new Route.Passthrough(destination, service);
        }
        Integer serviceTarget = service.ports().get(port);
        if (serviceTarget == null) {
            return new Route.Refuse("no healthy upstream: service " + service.key() + " does not define port " + port);
        }
        List<ProxyState.Endpoint> candidates =
                rank(candidates(state, service, port, serviceTarget, source.network()), lb, source);
        if (candidates.isEmpty()) {
            return new Route.Refuse("no healthy upstream for service " + service.key() + " port " + port);
        }
        ProxyState.Endpoint endpoint = pick(candidates);
        Workload workload = endpoint.workload();
        if (!workload.network().equals(source.network())) {
            return gateways.route(state, workload, service, service, destination, false);
        }
        int target = targetPort(endpoint, port, serviceTarget);
        InetAddress ip = chooseIp(workload, dstIp, service.ipFamilies());
        if (ip == null) {
            if (!workload.speaksHbone() && !workload.hostname().isEmpty()) {
                return new Route.Direct(
                        InetSocketAddress.createUnresolved(workload.hostname(), target),
                        workload.hostname(),
                        workload,
                        service);
            }
            return new Route.Refuse(
                    "workload " + workload.uid() + " has no usable address for service " + service.key());
        }
        return toWorkload(source, workload, service, ip, target);
    }

    private Route toWorkload(
            Workload source, Workload workload, @Nullable Service service, InetAddress ip, int target) {
        if (!workload.network().equals(source.network())) {
            // Remote endpoints and waypoints were sent to their network gateway above; this one was not picked
            // through a service.
            return new Route.Refuse("no service: workload " + workload.uid() + " is on network \"" + workload.network()
                    + "\" and only service-addressed traffic can go through a network gateway");
        }
        if (workload.speaksHbone()) {
            List<SpiffeId> expected =
                    expectedIdentities(service == null ? List.of() : service.subjectAltNames(), workload);
            return new Route.Hbone(
                    new InetSocketAddress(ip, config.hbonePort()),
                    Addresses.format(ip, target),
                    expected,
                    workload,
                    workload,
                    service,
                    false);
        }
        return new Route.Direct(new InetSocketAddress(ip, target), null, workload, service);
    }

    static List<SpiffeId> expectedIdentities(List<String> sans, Workload workload) {
        List<SpiffeId> out = new ArrayList<>();
        for (String san : sans) {
            SpiffeId id = SpiffeId.tryParse(san);
            if (id != null && !out.contains(id)) {
                out.add(id);
            }
        }
        SpiffeId identity = workload.identity();
        if (!out.contains(identity)) {
            out.add(identity);
        }
        return out;
    }

    /** The route to a waypoint, or a null route when the client is the waypoint itself (then no waypoint applies). */
    private record WaypointRoute(@Nullable Route route) {}

    /**
     * @param skipWhenSourceIsWaypoint for workload-addressed traffic: the waypoint does not apply to traffic it sends
     */
    private WaypointRoute waypointRoute(
            ProxyState state,
            Workload source,
            GatewayAddress gateway,
            InetSocketAddress destination,
            @Nullable Service service,
            @Nullable Workload destinationWorkload,
            boolean skipWhenSourceIsWaypoint) {
        Gateway resolved = resolveGateway(state, gateway, source, destination.getAddress());
        if (skipWhenSourceIsWaypoint && resolved.members().stream().anyMatch(w -> isSameWorkload(w, source))) {
            return new WaypointRoute(null);
        }
        Workload waypoint = resolved.chosen();
        if (waypoint != null && !waypoint.network().equals(source.network())) {
            // A waypoint on another network is reached through that network's gateway (double HBONE).
            return new WaypointRoute(gateways.route(state, waypoint, service, resolved.service(), destination, true));
        }
        InetSocketAddress address = resolved.address();
        if (waypoint == null || address == null) {
            return new WaypointRoute(
                    new Route.Refuse("unknown waypoint " + gateway.destination() + ": " + resolved.failure()));
        }
        List<SpiffeId> expected = expectedIdentities(
                resolved.service() == null ? List.of() : resolved.service().subjectAltNames(), waypoint);
        String authority = Addresses.format(destination.getAddress(), destination.getPort());
        return new WaypointRoute(
                new Route.Hbone(address, authority, expected, waypoint, destinationWorkload, service, true));
    }

    /**
     * A resolved waypoint: the workload chosen and where to reach it (null with a {@code failure} when it cannot be
     * resolved), every workload that is the waypoint, and its service if any.
     */
    private record Gateway(
            @Nullable Workload chosen,
            @Nullable InetSocketAddress address,
            List<Workload> members,
            @Nullable Service service,
            String failure) {
        static Gateway unknown(List<Workload> members, @Nullable Service service, String failure) {
            return new Gateway(null, null, members, service, failure);
        }
    }

    /**
     * Resolves a waypoint as ztunnel does. By IP: a service with that VIP, else a workload with that IP, on that
     * network; the endpoint's address is of the waypoint IP's family. By host name: the service, else a workload with
     * that host name; the family follows the original destination. A service's endpoints count only when the service
     * defines port {@code hbone_mtls_port} or the workload has an application tunnel, and are load-balanced with the
     * waypoint service's own policy. A {@code PASSTHROUGH} waypoint service cannot be a waypoint.
     */
    private Gateway resolveGateway(ProxyState state, GatewayAddress gateway, Workload source, InetAddress original) {
        int hbonePort = gateway.hboneMtlsPort();
        Service service;
        InetAddress family;
        if (gateway.destination() instanceof GatewayAddress.Address a) {
            List<Service> byVip = state.servicesByVip(a.address());
            service = byVip.isEmpty() ? null : byVip.getFirst();
            family = a.address().address();
            if (service == null) {
                Workload workload = state.workloadByAddress(a.address());
                return workload == null
                        ? Gateway.unknown(List.of(), null, "no service or workload has that address")
                        : direct(workload, family, hbonePort);
            }
        } else {
            NamespacedHostname name = ((GatewayAddress.Hostname) gateway.destination()).hostname();
            service = state.service(name);
            family = original;
            if (service == null) {
                for (Workload w : state.workloads()) {
                    if (w.hostname().equals(name.hostname()) && w.namespace().equals(name.namespace())) {
                        return direct(w, family, hbonePort);
                    }
                }
                return Gateway.unknown(List.of(), null, "no service or workload has that host name");
            }
        }
        LoadBalancing lb = service.loadBalancing();
        List<Workload> members = new ArrayList<>();
        for (ProxyState.Endpoint e : state.endpoints(service)) {
            members.add(e.workload());
        }
        if (lb != null && lb.mode() == LoadBalancing.Mode.PASSTHROUGH) {
            return Gateway.unknown(members, service, "service " + service.key() + " is PASSTHROUGH");
        }
        boolean allowUnhealthy = lb != null && lb.healthPolicy() == LoadBalancing.HealthPolicy.ALLOW_ALL;
        Integer serviceTarget = service.ports().get(hbonePort);
        List<ProxyState.Endpoint> usable = new ArrayList<>();
        for (ProxyState.Endpoint e : state.endpoints(service)) {
            Workload w = e.workload();
            if ((allowUnhealthy || w.status() == Workload.HealthStatus.HEALTHY)
                    && !w.addresses().isEmpty()
                    && (serviceTarget != null || w.applicationTunnel() != null)) {
                usable.add(e);
            }
        }
        List<ProxyState.Endpoint> ranked = rank(usable, lb, source);
        if (ranked.isEmpty()) {
            return Gateway.unknown(
                    members, service, "service " + service.key() + " has no usable endpoint on port " + hbonePort);
        }
        ProxyState.Endpoint endpoint = pick(ranked);
        Workload workload = endpoint.workload();
        int port = endpoint.ports().getOrDefault(hbonePort, 0);
        if (port == 0 && serviceTarget != null && serviceTarget > 0) {
            port = serviceTarget;
        }
        Workload.ApplicationTunnel tunnel = workload.applicationTunnel();
        if (port == 0 && tunnel != null && tunnel.port() != 0) {
            port = hbonePort;
        }
        InetAddress ip = chooseIp(workload, family, Service.IpFamilies.AUTOMATIC);
        if (port == 0 || ip == null) {
            return Gateway.unknown(
                    members,
                    service,
                    "endpoint " + workload.uid() + (ip == null ? " has no address" : " has no port for " + hbonePort));
        }
        return new Gateway(workload, new InetSocketAddress(ip, port), members, service, "");
    }

    /** A waypoint that is a workload itself, reached on {@code hbone_mtls_port}. */
    private static Gateway direct(Workload workload, InetAddress family, int hbonePort) {
        InetAddress ip = chooseIp(workload, family, Service.IpFamilies.AUTOMATIC);
        if (ip == null) {
            return Gateway.unknown(List.of(workload), null, "workload " + workload.uid() + " has no address");
        }
        return new Gateway(workload, new InetSocketAddress(ip, hbonePort), List.of(workload), null, "");
    }

    private static boolean isSameWorkload(Workload a, Workload b) {
        if (a.uid().equals(b.uid())) {
            return true;
        }
        return a.identity().equals(b.identity()) && a.addresses().stream().anyMatch(b.addresses()::contains);
    }

    /**
     * The waypoint for one connection to {@code service}: one of its weighted waypoints drawn by weight (an unsigned
     * 32-bit value; weight 0 is never drawn), or {@code waypoint} when there are none or all weigh 0.
     */
    private @Nullable GatewayAddress chooseWaypoint(Service service) {
        long total = 0;
        for (Service.WeightedWaypoint w : service.weightedWaypoints()) {
            total += Integer.toUnsignedLong(w.weight());
        }
        if (total == 0) {
            return service.waypoint();
        }
        long roll = random.nextLong(total);
        for (Service.WeightedWaypoint w : service.weightedWaypoints()) {
            roll -= Integer.toUnsignedLong(w.weight());
            if (roll < 0) {
                return w.destination();
            }
        }
        throw new IllegalStateException("weighted draw out of range");
    }

    /** The service a VIP means to a client in {@code clientNamespace}, or null. */
    static @Nullable Service selectService(
            ProxyState state, NetworkAddress vip, String clientNamespace, String preferredNamespace) {
        List<Service> visible = new ArrayList<>();
        for (Service s : state.servicesByVip(vip)) {
            if (s.visibleTo(clientNamespace)) {
                visible.add(s);
            }
        }
        if (visible.isEmpty()) {
            for (Service s : state.servicesByCidr(vip)) {
                if (s.visibleTo(clientNamespace)) {
                    return s;
                }
            }
            return null;
        }
        visible.sort(Comparator.comparing((Service s) -> !s.namespace().equals(clientNamespace))
                .thenComparing(s -> !s.canonical())
                .thenComparing(s -> !s.namespace().equals(preferredNamespace)));
        return visible.getFirst();
    }

    private @Nullable Service selectService(ProxyState state, NetworkAddress vip, String clientNamespace) {
        return selectService(state, vip, clientNamespace, config.preferredServiceNamespace());
    }

    private static List<ProxyState.Endpoint> candidates(
            ProxyState state, Service service, int port, int serviceTarget, String sourceNetwork) {
        boolean allowUnhealthy = service.loadBalancing() != null
                && service.loadBalancing().healthPolicy() == LoadBalancing.HealthPolicy.ALLOW_ALL;
        List<ProxyState.Endpoint> out = new ArrayList<>();
        for (ProxyState.Endpoint e : state.endpoints(service)) {
            Workload w = e.workload();
            if (w.addresses().isEmpty()
                    && w.hostname().isEmpty()
                    && (w.network().equals(sourceNetwork) || w.networkGateway() == null)) {
                continue; // no address, and no network gateway to reach it through
            }
            if (!allowUnhealthy && w.status() == Workload.HealthStatus.UNHEALTHY) {
                continue;
            }
            int mapped = e.ports().getOrDefault(port, 0);
            if (mapped == 0 && serviceTarget == 0 && w.applicationTunnel() == null) {
                continue;
            }
            out.add(e);
        }
        return out;
    }

    static int targetPort(ProxyState.Endpoint endpoint, int port, int serviceTarget) {
        int mapped = endpoint.ports().getOrDefault(port, 0);
        if (mapped != 0) {
            return mapped;
        }
        return serviceTarget != 0 ? serviceTarget : port;
    }

    /**
     * Keeps the endpoints best matching the client's locality: the rank is the number of leading
     * {@code routing_preference} scopes shared with the client, up to the first mismatch, except that {@code NETWORK}
     * listed first adds n−1 when it matches and is skipped when it does not; the top rank is kept, STRICT drops every
     * endpoint that does not match all scopes.
     */
    static List<ProxyState.Endpoint> rank(
            List<ProxyState.Endpoint> candidates, @Nullable LoadBalancing lb, Workload source) {
        if (lb == null
                || lb.routingPreference().isEmpty()
                || (lb.mode() != LoadBalancing.Mode.STRICT && lb.mode() != LoadBalancing.Mode.FAILOVER)) {
            return candidates;
        }
        List<LoadBalancing.Scope> scopes = lb.routingPreference();
        int n = scopes.size();
        int best = -1;
        List<ProxyState.Endpoint> kept = new ArrayList<>();
        for (ProxyState.Endpoint e : candidates) {
            int score = 0;
            boolean matchesAll = true;
            for (int i = 0; i < n; i++) {
                LoadBalancing.Scope scope = scopes.get(i);
                boolean match = sameScope(scope, source, e.workload());
                if (i == 0 && scope == LoadBalancing.Scope.NETWORK) {
                    // NETWORK first weighs as much as the other scopes together; a mismatch only skips it.
                    score += match ? n - 1 : 0;
                    matchesAll = match;
                    continue;
                }
                if (!match) {
                    matchesAll = false;
                    break;
                }
                score++;
            }
            if (lb.mode() == LoadBalancing.Mode.STRICT && !matchesAll) {
                continue;
            }
            if (score > best) {
                best = score;
                kept.clear();
            }
            if (score == best) {
                kept.add(e);
            }
        }
        return kept.isEmpty() && lb.mode() == LoadBalancing.Mode.FAILOVER ? candidates : kept;
    }

    private static boolean sameScope(LoadBalancing.Scope scope, Workload a, Workload b) {
        return switch (scope) {
            case REGION -> a.locality().region().equals(b.locality().region());
            case ZONE -> a.locality().zone().equals(b.locality().zone());
            case SUBZONE -> a.locality().subzone().equals(b.locality().subzone());
            case NODE -> a.node().equals(b.node());
            case CLUSTER -> a.clusterId().equals(b.clusterId());
            case NETWORK -> a.network().equals(b.network());
        };
    }

    /** A random endpoint, weighted by workload capacity. */
    private ProxyState.Endpoint pick(List<ProxyState.Endpoint> endpoints) {
        if (endpoints.isEmpty()) {
            throw new IllegalStateException("no endpoints");
        }
        long total = 0;
        for (ProxyState.Endpoint e : endpoints) {
            total += Math.max(0, e.workload().capacity());
        }
        if (total == 0) {
            return endpoints.get(random.nextInt(endpoints.size()));
        }
        long roll = random.nextLong(total);
        for (ProxyState.Endpoint e : endpoints) {
            roll -= Math.max(0, e.workload().capacity());
            if (roll < 0) {
                return e;
            }
        }
        return endpoints.getLast();
    }

    /** The workload IP to use: the dialled one if it is the workload's, else one the service's families allow. */
    static @Nullable InetAddress chooseIp(Workload workload, InetAddress dialled, Service.IpFamilies families) {
        if (workload.addresses().contains(dialled)) {
            return dialled;
        }
        boolean wantV4 = dialled instanceof Inet4Address;
        InetAddress sameFamily = null;
        InetAddress any = null;
        for (InetAddress ip : workload.addresses()) {
            boolean v4 = ip instanceof Inet4Address;
            if ((families == Service.IpFamilies.IPV4_ONLY && !v4) || (families == Service.IpFamilies.IPV6_ONLY && v4)) {
                continue;
            }
            if (v4 == wantV4 && sameFamily == null) {
                sameFamily = ip;
            }
            if (any == null) {
                any = ip;
            }
        }
        return sameFamily != null ? sameFamily : any;
    }
}
