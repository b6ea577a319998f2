package io.ztunnel.core.routing;

import static io.ztunnel.core.state.Fixtures.addr;
import static io.ztunnel.core.state.Fixtures.ip;
import static io.ztunnel.core.state.Fixtures.memberOf;
import static io.ztunnel.core.state.Fixtures.pod;
import static io.ztunnel.core.state.Fixtures.service;
import static io.ztunnel.core.state.Fixtures.state;
import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.state.GatewayAddress;
import io.ztunnel.core.state.NamespacedHostname;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Routing to workloads on another network through their network gateway (double HBONE), rule by rule. */
class NetworkGatewayRoutingTest {
    private static final String WEB_SAN = "spiffe://cluster.local/ns/ns/sa/web";
    private static final String GW_SAN = "spiffe://cluster.local/ns/istio-system/sa/gateway-svc";

    private final OutboundRouter router = new OutboundRouter(RoutingConfig.defaults(false), new SplittableRandom(7));
    private final Workload client = pod("client-ns", "client", "10.0.1.1").build();

    /** The gateway of network "b": service VIP b/172.16.0.1 port 15008, one pod at 172.16.0.10. */
    private final Service gatewayService = Service.builder(
                    "istio-system", "gateway", "gateway.istio-system.svc.cluster.local")
            .vips(List.of(new NetworkAddress("b", ip("172.16.0.1"))))
            .ports(Map.of(15008, 15008))
            .subjectAltNames(List.of(GW_SAN))
            .build();

    private final Workload gatewayPod = pod("istio-system", "gateway-pod", "172.16.0.10")
            .network("b")
            .services(memberOf(gatewayService, Map.of()))
            .build();

    private final Service web = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
            .subjectAltNames(List.of(WEB_SAN))
            .build();

    private static GatewayAddress byIp(String network, String ip, int port) {
        return new GatewayAddress(new GatewayAddress.Address(new NetworkAddress(network, ip(ip))), port);
    }

    /** A pod of {@code web} on network "b", with no address this network can reach, behind {@code gateway}. */
    private Workload remote(String name, GatewayAddress gateway) {
        return pod("ns", name)
                .network("b")
                .networkGateway(gateway)
                .services(memberOf(web, Map.of()))
                .build();
    }

    private Route route(ProxyState state) {
        return router.route(state, client, addr("10.96.0.10", 80));
    }

    @Test
    void remoteEndpointIsReachedThroughItsGatewayServiceWithServiceHostAuthority() {
        Workload remote = remote("remote", byIp("b", "172.16.0.1", 15008));
        Route r = route(state(List.of(client, remote, gatewayPod), List.of(web, gatewayService)));
        assertThat(r).isInstanceOfSatisfying(Route.DoubleHbone.class, d -> {
            assertThat(d.gatewayAddress()).isEqualTo(addr("172.16.0.10", 15008));
            assertThat(d.gatewayIdentities()).containsExactly(SpiffeId.parse(GW_SAN), gatewayPod.identity());
            assertThat(d.innerIdentities()).containsExactly(SpiffeId.parse(WEB_SAN));
            assertThat(d.authority()).isEqualTo("web.ns.svc.cluster.local:80");
            assertThat(d.workload()).isEqualTo(remote);
            assertThat(d.gateway()).isEqualTo(gatewayPod);
            assertThat(d.service()).isEqualTo(web);
            assertThat(d.viaWaypoint()).isFalse();
        });
    }

    @Test
    void gatewayServicePortIsMappedLikeAnyServiceEndpoint() {
        Service mapped = Service.builder("istio-system", "gateway", "gateway.istio-system.svc.cluster.local")
                .vips(List.of(new NetworkAddress("b", ip("172.16.0.1"))))
                .ports(Map.of(15008, 0))
                .build();
        Workload gw = gatewayPod.toBuilder()
                .services(memberOf(mapped, Map.of(15008, 15443)))
                .build();
        Workload remote = remote("remote", byIp("b", "172.16.0.1", 15008));
        Route.DoubleHbone d = (Route.DoubleHbone) route(state(List.of(client, remote, gw), List.of(web, mapped)));
        assertThat(d.gatewayAddress()).isEqualTo(addr("172.16.0.10", 15443));
    }

    @Test
    void gatewayByWorkloadIpIsDialledAtItsHbonePortAndOnlyItsIdentityIsAccepted() {
        Workload gw =
                pod("istio-system", "lone-gateway", "172.16.0.20").network("b").build();
        Workload remote = remote("remote", byIp("b", "172.16.0.20", 15443));
        Route.DoubleHbone d = (Route.DoubleHbone) route(state(List.of(client, remote, gw), List.of(web)));
        assertThat(d.gatewayAddress()).isEqualTo(addr("172.16.0.20", 15443));
        assertThat(d.gatewayIdentities()).containsExactly(gw.identity());
    }

    @Test
    void gatewayByHostnameIsTheServiceWithThatName() {
        GatewayAddress byName = new GatewayAddress(
                new GatewayAddress.Hostname(
                        new NamespacedHostname("istio-system", "gateway.istio-system.svc.cluster.local")),
                15008);
        Workload remote = remote("remote", byName);
        Route.DoubleHbone d =
                (Route.DoubleHbone) route(state(List.of(client, remote, gatewayPod), List.of(web, gatewayService)));
        assertThat(d.gatewayAddress()).isEqualTo(addr("172.16.0.10", 15008));
    }

    @Test
    void remoteEndpointWithoutGatewayIsNoValidDestination() {
        Workload remote = pod("ns", "remote", "192.168.5.5")
                .network("b")
                .services(memberOf(web, Map.of()))
                .build();
        assertThat(route(state(List.of(client, remote), List.of(web))))
                .isInstanceOfSatisfying(
                        Route.Refuse.class, r -> assertThat(r.reason()).startsWith("no valid destination"));
    }

    @Test
    void gatewayThatIsNotInTheStateIsUnknown() {
        Workload remote = remote("remote", byIp("b", "172.16.9.9", 15008));
        assertThat(route(state(List.of(client, remote), List.of(web))))
                .isInstanceOfSatisfying(
                        Route.Refuse.class, r -> assertThat(r.reason()).startsWith("unknown network gateway"));
        // A gateway address on another network than the one named does not count either.
        Workload elsewhere = remote("remote", byIp("c", "172.16.0.10", 15008));
        assertThat(route(state(List.of(client, elsewhere, gatewayPod), List.of(web, gatewayService))))
                .isInstanceOf(Route.Refuse.class);
    }

    @Test
    void serviceWithoutSansCannotBeVerifiedBehindAGatewayAndIsRefused() {
        Service bare = service("ns", "web", "10.96.0.10", Map.of(80, 8080)).build();
        Workload remote = pod("ns", "remote")
                .network("b")
                .networkGateway(byIp("b", "172.16.0.1", 15008))
                .services(memberOf(bare, Map.of()))
                .build();
        assertThat(route(state(List.of(client, remote, gatewayPod), List.of(bare, gatewayService))))
                .isInstanceOfSatisfying(
                        Route.Refuse.class, r -> assertThat(r.reason()).contains("no subject alternative names"));
    }

    @Test
    void addressLessEndpointIsACandidateOnlyWhenRemoteAndGatewayed() {
        Workload sameNetwork =
                pod("ns", "nowhere").services(memberOf(web, Map.of())).build();
        Workload remoteNoGateway =
                pod("ns", "lost").network("b").services(memberOf(web, Map.of())).build();
        assertThat(route(state(List.of(client, sameNetwork, remoteNoGateway), List.of(web))))
                .isInstanceOfSatisfying(
                        Route.Refuse.class, r -> assertThat(r.reason()).startsWith("no healthy upstream"));
    }

    @Test
    void localAndRemoteEndpointsMixWithoutANetworkPreference() {
        Workload local =
                pod("ns", "local", "10.0.2.1").services(memberOf(web, Map.of())).build();
        Workload remote = remote("remote", byIp("b", "172.16.0.1", 15008));
        ProxyState state = state(List.of(client, local, remote, gatewayPod), List.of(web, gatewayService));
        List<Class<?>> kinds = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            kinds.add(route(state).getClass());
        }
        assertThat(kinds).contains(Route.Hbone.class, Route.DoubleHbone.class);
    }

    @Test
    void remoteWaypointIsReachedThroughItsGatewayAndVerifiedByTheWaypointServiceSans() {
        String waypointSan = "spiffe://cluster.local/ns/ns/sa/waypoint";
        Service waypointSvc = Service.builder("ns", "waypoint", "waypoint.ns.svc.cluster.local")
                .vips(List.of(new NetworkAddress("b", ip("172.16.1.1"))))
                .ports(Map.of(15008, 15008))
                .subjectAltNames(List.of(waypointSan))
                .build();
        Workload waypoint = pod("ns", "waypoint-pod", "172.16.1.10")
                .network("b")
                .networkGateway(byIp("b", "172.16.0.1", 15008))
                .services(memberOf(waypointSvc, Map.of()))
                .build();
        Service withWaypoint = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .subjectAltNames(List.of(WEB_SAN))
                .waypoint(new GatewayAddress(
                        new GatewayAddress.Address(new NetworkAddress("b", ip("172.16.1.1"))), 15008))
                .build();
        ProxyState state =
                state(List.of(client, waypoint, gatewayPod), List.of(withWaypoint, waypointSvc, gatewayService));
        assertThat(route(state)).isInstanceOfSatisfying(Route.DoubleHbone.class, d -> {
            assertThat(d.viaWaypoint()).isTrue();
            assertThat(d.workload()).isEqualTo(waypoint);
            assertThat(d.innerIdentities()).containsExactly(SpiffeId.parse(waypointSan));
            assertThat(d.authority()).isEqualTo("web.ns.svc.cluster.local:80");
            assertThat(d.gatewayAddress()).isEqualTo(addr("172.16.0.10", 15008));
        });
    }
}
