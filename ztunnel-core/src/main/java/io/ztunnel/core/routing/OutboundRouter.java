package io.ztunnel.core.routing;

import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.net.Addresses;
import io.ztunnel.core.state.GatewayAddress;
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
 *       its waypoint if it has one (unless the client is that waypoint); PASSTHROUGH services go to the original
 *       destination; otherwise the service must define the port, and an endpoint is picked among healthy ones
 *       (unless ALLOW_ALL), ranked by the routing preference scopes for STRICT/FAILOVER, at random weighted by
 *       {@code capacity}. Target port: the endpoint's port map, then the service's target port, then the service port
 *       for application-tunnel workloads. IP: the original one if the workload has it, else one allowed by the
 *       service's IP families, same family first.
 *   <li>A pod IP: that workload (its waypoint for workload-addressed traffic, unless the client is the waypoint).
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
            WaypointRoute waypoint = waypointRoute(state, source, workload.waypoint(), destination, null, workload);
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
            WaypointRoute route = waypointRoute(state, source, waypoint, destination, service, null);
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

    private WaypointRoute waypointRoute(
            ProxyState state,
            Workload source,
            GatewayAddress gateway,
            InetSocketAddress destination,
            @Nullable Service service,
            @Nullable Workload destinationWorkload) {
        Gateway resolved = resolveGateway(state, gateway);
        if (resolved == null) {
            return new WaypointRoute(new Route.Refuse("waypoint " + gateway.destination() + " not found"));
        }
        if (resolved.members().stream().anyMatch(w -> isSameWorkload(w, source))) {
            return new WaypointRoute(null);
        }
        Workload waypoint = resolved.chosen();
        if (!waypoint.network().equals(source.network())) {
            return new WaypointRoute(gateways.route(state, waypoint, service, resolved.service(), destination, true));
        }
        InetAddress ip = chooseIp(waypoint, destination.getAddress(), Service.IpFamilies.AUTOMATIC);
        if (ip == null) {
            return new WaypointRoute(new Route.Refuse("waypoint " + waypoint.uid() + " has no address"));
        }
        List<SpiffeId> expected = expectedIdentities(
                resolved.service() == null ? List.of() : resolved.service().subjectAltNames(), waypoint);
        String authority = Addresses.format(destination.getAddress(), destination.getPort());
        return new WaypointRoute(new Route.Hbone(
                new InetSocketAddress(ip, gateway.hboneMtlsPort()),
                authority,
                expected,
                waypoint,
                destinationWorkload,
                service,
                true));
    }

    /** A resolved gateway: the workload chosen, every workload that is the gateway, and its service if any. */
    private record Gateway(
            Workload chosen,
            List<Workload> members,
            @Nullable Service service) {}

    private @Nullable Gateway resolveGateway(ProxyState state, GatewayAddress gateway) {
        Service service;
        if (gateway.destination() instanceof GatewayAddress.Address a) {
            Workload workload = state.workloadByAddress(a.address());
            if (workload != null) {
                return new Gateway(workload, List.of(workload), null);
            }
            List<Service> byVip = state.servicesByVip(a.address());
            service = byVip.isEmpty() ? null : byVip.getFirst();
        } else {
            service = state.service(((GatewayAddress.Hostname) gateway.destination()).hostname());
        }
        if (service == null) {
            return null;
        }
        List<Workload> members = new ArrayList<>();
        List<ProxyState.Endpoint> healthy = new ArrayList<>();
        for (ProxyState.Endpoint e : state.endpoints(service)) {
            members.add(e.workload());
            if (e.workload().status() == Workload.HealthStatus.HEALTHY
                    && !e.workload().addresses().isEmpty()) {
                healthy.add(e);
            }
        }
        if (healthy.isEmpty()) {
            return null;
        }
        return new Gateway(pick(healthy).workload(), members, service);
    }

    private static boolean isSameWorkload(Workload a, Workload b) {
        if (a.uid().equals(b.uid())) {
            return true;
        }
        return a.identity().equals(b.identity()) && a.addresses().stream().anyMatch(b.addresses()::contains);
    }

    private @Nullable GatewayAddress chooseWaypoint(Service service) {
        if (service.weightedWaypoints().isEmpty()) {
            return service.waypoint();
        }
        long total = 0;
        for (Service.WeightedWaypoint w : service.weightedWaypoints()) {
            total += Math.max(0, w.weight());
        }
        if (total == 0) {
            return service.weightedWaypoints()
                    .get(random.nextInt(service.weightedWaypoints().size()))
                    .destination();
        }
        long roll = random.nextLong(total);
        for (Service.WeightedWaypoint w : service.weightedWaypoints()) {
            roll -= Math.max(0, w.weight());
            if (roll < 0) {
                return w.destination();
            }
        }
        return service.weightedWaypoints().getLast().destination();
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

    /** Keeps the endpoints best matching the client's locality (STRICT drops partial matches). */
    static List<ProxyState.Endpoint> rank(
            List<ProxyState.Endpoint> candidates, @Nullable LoadBalancing lb, Workload source) {
        if (lb == null
                || lb.routingPreference().isEmpty()
                || (lb.mode() != LoadBalancing.Mode.STRICT && lb.mode() != LoadBalancing.Mode.FAILOVER)) {
            return candidates;
        }
        int best = -1;
        List<ProxyState.Endpoint> kept = new ArrayList<>();
        for (ProxyState.Endpoint e : candidates) {
            int score = 0;
            for (LoadBalancing.Scope scope : lb.routingPreference()) {
                if (!sameScope(scope, source, e.workload())) {
                    break;
                }
                score++;
            }
            if (lb.mode() == LoadBalancing.Mode.STRICT
                    && score < lb.routingPreference().size()) {
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
