package io.ztunnel.core.routing;

import static io.ztunnel.core.state.Fixtures.addr;
import static io.ztunnel.core.state.Fixtures.ip;
import static io.ztunnel.core.state.Fixtures.memberOf;
import static io.ztunnel.core.state.Fixtures.pod;
import static io.ztunnel.core.state.Fixtures.service;
import static io.ztunnel.core.state.Fixtures.state;
import static io.ztunnel.core.state.Fixtures.vip;
import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.core.net.HboneAddress;
import io.ztunnel.core.state.GatewayAddress;
import io.ztunnel.core.state.NamespacedHostname;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** One test per inbound HBONE destination rule of sections 2.5 and 3.1. */
class InboundResolverTest {
    private final InboundResolver resolver = new InboundResolver(RoutingConfig.defaults(false));
    private final Service svc =
            service("ns", "web", "10.96.0.10", Map.of(80, 8080, 81, 0)).build();
    private final Workload local = pod("ns", "web-1", "10.0.2.1")
            .services(memberOf(svc, Map.of(81, 9091)))
            .build();

    private InboundResolver.Result resolve(ProxyState state, Workload me, String authority) {
        return resolver.resolve(state, me, addr("10.0.2.1", 15008), HboneAddress.parse(authority));
    }

    private static int status(InboundResolver.Result r) {
        return ((InboundResolver.Failure) r).status().code();
    }

    @Test
    void ipAuthorityMatchingTheArrivalIpGoesToThatPort() {
        InboundResolver.Result r = resolve(state(List.of(local), List.of(svc)), local, "10.0.2.1:8080");
        assertThat(r).isEqualTo(new InboundResolver.Target(addr("10.0.2.1", 8080), List.of(svc)));
    }

    @Test
    void ipAuthorityForAnotherIpIsAnIpMismatch400() {
        InboundResolver.Result r = resolve(state(List.of(local), List.of(svc)), local, "10.0.2.99:8080");
        assertThat(status(r)).isEqualTo(400);
        assertThat(((InboundResolver.Failure) r).reason()).contains("ip mismatch");
    }

    @Test
    void ipAuthorityOnAnIllegalPortIs400() {
        for (int port : List.of(15001, 15006, 15008)) {
            assertThat(status(resolve(state(List.of(local), List.of(svc)), local, "10.0.2.1:" + port)))
                    .isEqualTo(400);
        }
    }

    @Test
    void applicationTunnelWorkloadsAcceptAnyAuthorityIpAndUseTheTunnelPort() {
        Workload tunnel = local.toBuilder()
                .applicationTunnel(new Workload.ApplicationTunnel(Workload.ApplicationTunnel.Protocol.PROXY, 15088))
                .build();
        assertThat(resolve(state(List.of(tunnel), List.of(svc)), tunnel, "10.96.0.10:80"))
                .isEqualTo(new InboundResolver.Target(addr("10.0.2.1", 15088), List.of(svc), addr("10.96.0.10", 80)));
    }

    @Test
    void aTunnelWithoutProxyProtocolWritesNoHeaderAndAPortOfZeroKeepsTheAuthorityPort() {
        Workload plainTunnel = local.toBuilder()
                .applicationTunnel(new Workload.ApplicationTunnel(Workload.ApplicationTunnel.Protocol.NONE, 0))
                .build();
        assertThat(resolve(state(List.of(plainTunnel), List.of(svc)), plainTunnel, "10.96.0.10:80"))
                .isEqualTo(new InboundResolver.Target(addr("10.0.2.1", 80), List.of(svc), null));
    }

    @Test
    void proxyHeaderDestinationOfAHostnameIsAVipOfTheServicePreferringThisNetworksIpv4() {
        Service dual = service("ns", "dual", "10.96.0.40", Map.of(80, 8080))
                .vips(List.of(new NetworkAddress("other", ip("10.200.0.1")), vip("fd00::40"), vip("10.96.0.40")))
                .build();
        Service v6Only = service("ns", "six", "10.96.0.41", Map.of(80, 8080))
                .vips(List.of(new NetworkAddress("other", ip("10.200.0.2")), vip("fd00::41")))
                .build();
        Service elsewhere = service("ns", "far", "10.96.0.42", Map.of(80, 8080))
                .vips(List.of(new NetworkAddress("other", ip("10.200.0.3"))))
                .build();
        Workload proxied = local.toBuilder()
                .applicationTunnel(new Workload.ApplicationTunnel(Workload.ApplicationTunnel.Protocol.PROXY, 0))
                .build();
        ProxyState s = state(List.of(proxied), List.of(dual, v6Only, elsewhere));
        assertThat(((InboundResolver.Target) resolve(s, proxied, "dual.ns.svc.cluster.local:80")).proxyDestination())
                .isEqualTo(addr("10.96.0.40", 80));
        assertThat(((InboundResolver.Target) resolve(s, proxied, "six.ns.svc.cluster.local:80")).proxyDestination())
                .isEqualTo(addr("fd00::41", 80));
        assertThat(((InboundResolver.Target) resolve(s, proxied, "far.ns.svc.cluster.local:80")).proxyDestination())
                .isEqualTo(addr("10.200.0.3", 80));
    }

    @Test
    void proxyHeaderForAHostnameServiceWithoutVipIs503() {
        Service headless = service("ns", "headless", "10.96.0.50", Map.of(80, 8080))
                .vips(List.of())
                .build();
        Workload proxied = local.toBuilder()
                .applicationTunnel(new Workload.ApplicationTunnel(Workload.ApplicationTunnel.Protocol.PROXY, 0))
                .build();
        InboundResolver.Result r =
                resolve(state(List.of(proxied), List.of(headless)), proxied, "headless.ns.svc.cluster.local:80");
        assertThat(status(r)).isEqualTo(503);
        assertThat(((InboundResolver.Failure) r).reason()).contains("no VIP");
    }

    @Test
    void aTargetWhoseWaypointIsUsPassesTheIpCheck() {
        Workload waypoint = pod("ns", "waypoint", "10.0.2.1").build();
        Service behind = service("ns", "reviews", "10.96.0.20", Map.of(9080, 9080))
                .waypoint(new GatewayAddress(new GatewayAddress.Address(vip("10.0.2.1")), 15008))
                .build();
        Service notBehind =
                service("ns", "ratings", "10.96.0.30", Map.of(9080, 9080)).build();
        ProxyState s = state(List.of(waypoint), List.of(behind, notBehind));
        assertThat(resolve(s, waypoint, "10.96.0.20:9080")).isInstanceOf(InboundResolver.Target.class);
        assertThat(status(resolve(s, waypoint, "10.96.0.30:9080"))).isEqualTo(400);
    }

    @Test
    void hostnameAuthorityUsesTheServiceTargetPort() {
        assertThat(resolve(state(List.of(local), List.of(svc)), local, "web.ns.svc.cluster.local:80"))
                .isEqualTo(new InboundResolver.Target(addr("10.0.2.1", 8080), List.of(svc)));
    }

    @Test
    void hostnameAuthorityPrefersTheEndpointPortMap() {
        assertThat(resolve(state(List.of(local), List.of(svc)), local, "web.ns.svc.cluster.local:81"))
                .isEqualTo(new InboundResolver.Target(addr("10.0.2.1", 9091), List.of(svc)));
    }

    @Test
    void unknownHostnameIs503() {
        assertThat(status(resolve(state(List.of(local), List.of(svc)), local, "nope.ns.svc.cluster.local:80")))
                .isEqualTo(503);
    }

    @Test
    void hostnamePortWithoutTargetIs503() {
        assertThat(status(resolve(state(List.of(local), List.of(svc)), local, "web.ns.svc.cluster.local:99")))
                .isEqualTo(503);
        Workload unmapped = local.toBuilder().services(memberOf(svc, Map.of())).build();
        assertThat(status(resolve(state(List.of(unmapped), List.of(svc)), unmapped, "web.ns.svc.cluster.local:81")))
                .isEqualTo(503);
    }

    @Test
    void hostnameResolvingToAnIllegalPortIs503() {
        Service loop = service("ns", "loop", "10.96.0.11", Map.of(80, 15001)).build();
        assertThat(status(resolve(state(List.of(local), List.of(loop)), local, "loop.ns.svc.cluster.local:80")))
                .isEqualTo(503);
    }

    @Test
    void aTargetWhoseWaypointHostnameResolvesToUsPassesTheIpCheck() {
        Service waypointSvc =
                service("ns", "waypoint", "10.96.9.9", Map.of(15008, 15008)).build();
        Workload waypoint = pod("ns", "waypoint", "10.0.2.1")
                .services(memberOf(waypointSvc, Map.of()))
                .build();
        Service behind = service("ns", "reviews", "10.96.0.20", Map.of(9080, 9080))
                .waypoint(new GatewayAddress(
                        new GatewayAddress.Hostname(new NamespacedHostname("ns", waypointSvc.hostname())), 15008))
                .build();
        Workload server = pod("ns", "server", "10.0.3.1")
                .waypoint(new GatewayAddress(new GatewayAddress.Address(vip("10.96.9.9")), 15008))
                .build();
        ProxyState s = state(List.of(waypoint, server), List.of(behind, waypointSvc));
        assertThat(resolve(s, waypoint, "10.96.0.20:9080")).isInstanceOf(InboundResolver.Target.class);
        // A workload whose waypoint is a VIP of a service we are an endpoint of.
        assertThat(resolve(s, waypoint, "10.0.3.1:9080")).isInstanceOf(InboundResolver.Target.class);
    }

    @Test
    void onlyTheWaypointFieldIsConsultedNotWeightedWaypoints() {
        Workload waypoint = pod("ns", "waypoint", "10.0.2.1").build();
        Service weightedOnly = service("ns", "reviews", "10.96.0.20", Map.of(9080, 9080))
                .weightedWaypoints(List.of(new Service.WeightedWaypoint(
                        new GatewayAddress(new GatewayAddress.Address(vip("10.0.2.1")), 15008), 100)))
                .build();
        InboundResolver.Result r =
                resolve(state(List.of(waypoint), List.of(weightedOnly)), waypoint, "10.96.0.20:9080");
        assertThat(status(r)).isEqualTo(400);
        assertThat(((InboundResolver.Failure) r).reason()).contains("ip mismatch");
    }

    @Test
    void aTargetWhoseWaypointHostnameIsOurOwnWorkloadHostnamePassesTheIpCheck() {
        Workload waypoint =
                pod("ns", "waypoint", "10.0.2.1").hostname("wp.example").build();
        Workload server = pod("ns", "server", "10.0.3.1")
                .waypoint(new GatewayAddress(
                        new GatewayAddress.Hostname(new NamespacedHostname("ns", "wp.example")), 15008))
                .build();
        Workload elsewhere = pod("ns", "other", "10.0.3.2")
                .waypoint(new GatewayAddress(
                        new GatewayAddress.Hostname(new NamespacedHostname("ns", "another.example")), 15008))
                .build();
        ProxyState s = state(List.of(waypoint, server, elsewhere), List.of());
        assertThat(resolve(s, waypoint, "10.0.3.1:9080")).isInstanceOf(InboundResolver.Target.class);
        assertThat(status(resolve(s, waypoint, "10.0.3.2:9080"))).isEqualTo(400);
    }
}
