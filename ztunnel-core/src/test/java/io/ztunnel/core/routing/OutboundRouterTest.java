package io.ztunnel.core.routing;

import static io.ztunnel.core.state.Fixtures.addr;
import static io.ztunnel.core.state.Fixtures.ip;
import static io.ztunnel.core.state.Fixtures.memberOf;
import static io.ztunnel.core.state.Fixtures.pod;
import static io.ztunnel.core.state.Fixtures.service;
import static io.ztunnel.core.state.Fixtures.state;
import static io.ztunnel.core.state.Fixtures.vip;
import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.state.Cidr;
import io.ztunnel.core.state.GatewayAddress;
import io.ztunnel.core.state.Locality;
import io.ztunnel.core.state.NamespacedHostname;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Service.LoadBalancing;
import io.ztunnel.core.state.Workload;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** One test per outbound routing rule of section 3.3. */
class OutboundRouterTest {
    private final OutboundRouter router = new OutboundRouter(RoutingConfig.defaults(true), new SplittableRandom(1));
    private final Workload client = pod("client-ns", "client", "10.0.1.1").build();

    private Route route(ProxyState state, String ip, int port) {
        return router.route(state, client, addr(ip, port));
    }

    @Test
    void loopbackDestinationOnAnIllegalPortIsRefused() {
        for (int port : List.of(15001, 15006, 15008, 15080)) {
            assertThat(route(state(List.of(client), List.of()), "127.0.0.1", port))
                    .isInstanceOf(Route.Refuse.class);
        }
        assertThat(route(state(List.of(client), List.of()), "127.0.0.1", 8080)).isInstanceOf(Route.Passthrough.class);
    }

    @Test
    void unknownDestinationIsPlainPassthrough() {
        Route r = route(state(List.of(client), List.of()), "93.184.216.34", 443);
        assertThat(r).isEqualTo(new Route.Passthrough(addr("93.184.216.34", 443), null));
    }

    @Test
    void podIpOfAnHboneWorkloadGoesOverHboneToItsPort15008WithIpPortAuthority() {
        Workload server = pod("ns", "server", "10.0.2.1").build();
        Route.Hbone r = (Route.Hbone) route(state(List.of(client, server), List.of()), "10.0.2.1", 8080);
        assertThat(r.hboneAddress()).isEqualTo(addr("10.0.2.1", 15008));
        assertThat(r.authority()).isEqualTo("10.0.2.1:8080");
        assertThat(r.expectedIdentities()).containsExactly(SpiffeId.parse("spiffe://cluster.local/ns/ns/sa/server"));
        assertThat(r.viaWaypoint()).isFalse();
    }

    @Test
    void podIpOfAPlainWorkloadIsDirectTcp() {
        Workload server = pod("ns", "server", "10.0.2.1")
                .tunnelProtocol(Workload.TunnelProtocol.NONE)
                .build();
        assertThat(route(state(List.of(client, server), List.of()), "10.0.2.1", 8080))
                .isEqualTo(new Route.Direct(addr("10.0.2.1", 8080), null, server, null));
    }

    @Test
    void hostNetworkWorkloadsAreNotFoundByIp() {
        Workload node = pod("ns", "node-agent", "10.0.2.1")
                .networkMode(Workload.NetworkMode.HOST_NETWORK)
                .build();
        assertThat(route(state(List.of(client, node), List.of()), "10.0.2.1", 8080))
                .isInstanceOf(Route.Passthrough.class);
    }

    @Test
    void serviceVipIsLoadBalancedToAnEndpointWithTheServiceTargetPort() {
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080)).build();
        Workload a =
                pod("ns", "a", "10.0.2.1").services(memberOf(svc, Map.of())).build();
        Route.Hbone r = (Route.Hbone) route(state(List.of(client, a), List.of(svc)), "10.96.0.10", 80);
        assertThat(r.authority()).isEqualTo("10.0.2.1:8080");
        assertThat(r.hboneAddress()).isEqualTo(addr("10.0.2.1", 15008));
        assertThat(r.service()).isEqualTo(svc);
    }

    @Test
    void endpointPortMapWinsOverTheServiceTargetPort() {
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 0)).build(); // named target port
        Workload a = pod("ns", "a", "10.0.2.1")
                .services(memberOf(svc, Map.of(80, 9090)))
                .build();
        assertThat(((Route.Hbone) route(state(List.of(client, a), List.of(svc)), "10.96.0.10", 80)).authority())
                .isEqualTo("10.0.2.1:9090");
    }

    @Test
    void endpointWithoutAnyPortMappingIsNotACandidate() {
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 0)).build();
        Workload a =
                pod("ns", "a", "10.0.2.1").services(memberOf(svc, Map.of())).build();
        assertThat(route(state(List.of(client, a), List.of(svc)), "10.96.0.10", 80))
                .isInstanceOf(Route.Refuse.class);
    }

    @Test
    void serviceMustDefineThePort() {
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080)).build();
        Workload a =
                pod("ns", "a", "10.0.2.1").services(memberOf(svc, Map.of())).build();
        Route r = route(state(List.of(client, a), List.of(svc)), "10.96.0.10", 81);
        assertThat(r)
                .isInstanceOfSatisfying(
                        Route.Refuse.class,
                        refuse -> assertThat(refuse.reason()).contains("does not define port 81"));
    }

    @Test
    void serviceWithoutEndpointsHasNoHealthyUpstream() {
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080)).build();
        assertThat(route(state(List.of(client), List.of(svc)), "10.96.0.10", 80))
                .isInstanceOf(Route.Refuse.class);
    }

    @Test
    void unhealthyEndpointsAreSkippedUnlessTheHealthPolicyAllowsAll() {
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080)).build();
        Workload sick = pod("ns", "a", "10.0.2.1")
                .services(memberOf(svc, Map.of()))
                .status(Workload.HealthStatus.UNHEALTHY)
                .build();
        assertThat(route(state(List.of(client, sick), List.of(svc)), "10.96.0.10", 80))
                .isInstanceOf(Route.Refuse.class);
        Service allowAll = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .loadBalancing(new LoadBalancing(
                        List.of(), LoadBalancing.Mode.UNSPECIFIED, LoadBalancing.HealthPolicy.ALLOW_ALL))
                .build();
        assertThat(route(state(List.of(client, sick), List.of(allowAll)), "10.96.0.10", 80))
                .isInstanceOf(Route.Hbone.class);
    }

    @Test
    void endpointsArePickedAtRandomInProportionToCapacity() {
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080)).build();
        Workload small = pod("ns", "small", "10.0.2.1")
                .services(memberOf(svc, Map.of()))
                .capacity(1)
                .build();
        Workload big = pod("ns", "big", "10.0.2.2")
                .services(memberOf(svc, Map.of()))
                .capacity(3)
                .build();
        ProxyState state = state(List.of(client, small, big), List.of(svc));
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < 4000; i++) {
            counts.merge(
                    ((Route.Hbone) route(state, "10.96.0.10", 80)).workload().name(), 1, Integer::sum);
        }
        assertThat(counts.get("big")).isBetween(2700, 3300);
        assertThat(counts.get("small")).isBetween(700, 1300);
    }

    @Test
    void strictRoutingPreferenceKeepsOnlyEndpointsMatchingEveryScope() {
        LoadBalancing strict = new LoadBalancing(
                List.of(LoadBalancing.Scope.REGION, LoadBalancing.Scope.ZONE),
                LoadBalancing.Mode.STRICT,
                LoadBalancing.HealthPolicy.ONLY_HEALTHY);
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .loadBalancing(strict)
                .build();
        Workload me = pod("client-ns", "client", "10.0.1.1")
                .locality(new Locality("r1", "z1", ""))
                .build();
        Workload sameZone = pod("ns", "near", "10.0.2.1")
                .services(memberOf(svc, Map.of()))
                .locality(new Locality("r1", "z1", ""))
                .build();
        Workload otherZone = pod("ns", "far", "10.0.2.2")
                .services(memberOf(svc, Map.of()))
                .locality(new Locality("r1", "z2", ""))
                .build();
        ProxyState state = state(List.of(me, sameZone, otherZone), List.of(svc));
        for (int i = 0; i < 50; i++) {
            assertThat(((Route.Hbone) router.route(state, me, addr("10.96.0.10", 80)))
                            .workload()
                            .name())
                    .isEqualTo("near");
        }
        ProxyState onlyFar = state(List.of(me, otherZone), List.of(svc));
        assertThat(router.route(onlyFar, me, addr("10.96.0.10", 80))).isInstanceOf(Route.Refuse.class);
    }

    @Test
    void failoverRoutingPreferenceFallsBackToTheBestPartialMatch() {
        LoadBalancing failover = new LoadBalancing(
                List.of(LoadBalancing.Scope.REGION, LoadBalancing.Scope.ZONE),
                LoadBalancing.Mode.FAILOVER,
                LoadBalancing.HealthPolicy.ONLY_HEALTHY);
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .loadBalancing(failover)
                .build();
        Workload me = pod("client-ns", "client", "10.0.1.1")
                .locality(new Locality("r1", "z1", ""))
                .build();
        Workload sameRegion = pod("ns", "region", "10.0.2.1")
                .services(memberOf(svc, Map.of()))
                .locality(new Locality("r1", "z2", ""))
                .build();
        Workload otherRegion = pod("ns", "away", "10.0.2.2")
                .services(memberOf(svc, Map.of()))
                .locality(new Locality("r2", "z9", ""))
                .build();
        ProxyState state = state(List.of(me, sameRegion, otherRegion), List.of(svc));
        for (int i = 0; i < 50; i++) {
            assertThat(((Route.Hbone) router.route(state, me, addr("10.96.0.10", 80)))
                            .workload()
                            .name())
                    .isEqualTo("region");
        }
    }

    @Test
    void passthroughServiceGoesToTheOriginalDestination() {
        Service svc = service("ns", "external", "10.96.0.10", Map.of(80, 8080))
                .loadBalancing(new LoadBalancing(
                        List.of(), LoadBalancing.Mode.PASSTHROUGH, LoadBalancing.HealthPolicy.ONLY_HEALTHY))
                .build();
        assertThat(route(state(List.of(client), List.of(svc)), "10.96.0.10", 80))
                .isEqualTo(new Route.Passthrough(addr("10.96.0.10", 80), svc));
    }

    @Test
    void serviceSubjectAltNamesComeBeforeTheWorkloadIdentity() {
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .subjectAltNames(List.of("spiffe://cluster.local/ns/ns/sa/web-san"))
                .build();
        Workload a =
                pod("ns", "a", "10.0.2.1").services(memberOf(svc, Map.of())).build();
        assertThat(((Route.Hbone) route(state(List.of(client, a), List.of(svc)), "10.96.0.10", 80))
                        .expectedIdentities())
                .containsExactly(
                        SpiffeId.parse("spiffe://cluster.local/ns/ns/sa/web-san"),
                        SpiffeId.parse("spiffe://cluster.local/ns/ns/sa/a"));
    }

    @Test
    void theDialledIpIsKeptWhenTheWorkloadHasItElseTheSameFamilyIsPreferred() {
        Workload dual = pod("ns", "dual", "10.0.2.1", "fd00::2:1").build();
        assertThat(OutboundRouter.chooseIp(dual, ip("fd00::2:1"), Service.IpFamilies.DUAL))
                .isEqualTo(ip("fd00::2:1"));
        assertThat(OutboundRouter.chooseIp(dual, ip("fd00::96:1"), Service.IpFamilies.DUAL))
                .isEqualTo(ip("fd00::2:1"));
        assertThat(OutboundRouter.chooseIp(dual, ip("10.96.0.1"), Service.IpFamilies.AUTOMATIC))
                .isEqualTo(ip("10.0.2.1"));
        assertThat(OutboundRouter.chooseIp(dual, ip("10.96.0.1"), Service.IpFamilies.IPV6_ONLY))
                .isEqualTo(ip("fd00::2:1"));
    }

    @Test
    void servicesNotVisibleToTheClientNamespaceAreIgnored() {
        Service hidden = service("ns", "private", "10.96.0.10", Map.of(80, 8080))
                .visibility(Service.Visibility.NAMESPACE)
                .build();
        Workload a =
                pod("ns", "a", "10.0.2.1").services(memberOf(hidden, Map.of())).build();
        assertThat(route(state(List.of(client, a), List.of(hidden)), "10.96.0.10", 80))
                .isInstanceOf(Route.Passthrough.class);
    }

    @Test
    void sharedVipPrefersTheClientNamespaceThenCanonical() {
        Service other = service("other", "web", "10.96.0.10", Map.of(80, 8080))
                .canonical(true)
                .build();
        Service mine =
                service("client-ns", "web", "10.96.0.10", Map.of(80, 8080)).build();
        Workload a = pod("other", "a", "10.0.2.1")
                .services(memberOf(other, Map.of()))
                .build();
        Workload b = pod("client-ns", "b", "10.0.2.2")
                .services(memberOf(mine, Map.of()))
                .build();
        ProxyState state = state(List.of(client, a, b), List.of(other, mine));
        assertThat(((Route.Hbone) route(state, "10.96.0.10", 80)).service()).isEqualTo(mine);

        Service plain = service("third", "web", "10.96.0.10", Map.of(80, 8080)).build();
        ProxyState noMine = state(List.of(client, a), List.of(plain, other));
        assertThat(OutboundRouter.selectService(noMine, vip("10.96.0.10"), "client-ns", ""))
                .isEqualTo(other);
    }

    @Test
    void cidrVipMatchesByLongestPrefix() {
        Service wide = Service.builder("ns", "wide", "wide.example")
                .cidrVips(List.of(new Service.CidrVip("", Cidr.parse("10.200.0.0/16"))))
                .ports(Map.of(80, 80))
                .build();
        Service narrow = Service.builder("ns", "narrow", "narrow.example")
                .cidrVips(List.of(new Service.CidrVip("", Cidr.parse("10.200.1.0/24"))))
                .ports(Map.of(80, 80))
                .build();
        ProxyState state = state(List.of(client), List.of(wide, narrow));
        assertThat(OutboundRouter.selectService(state, vip("10.200.1.7"), "client-ns", ""))
                .isEqualTo(narrow);
        assertThat(OutboundRouter.selectService(state, vip("10.200.2.7"), "client-ns", ""))
                .isEqualTo(wide);
        assertThat(OutboundRouter.selectService(state, vip("10.201.0.1"), "client-ns", ""))
                .isNull();
    }

    @Test
    void serviceWithAWaypointGoesToTheWaypointWithTheOriginalVipAuthority() {
        Workload waypoint = pod("ns", "waypoint", "10.0.9.1").build();
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .waypoint(new GatewayAddress(new GatewayAddress.Address(vip("10.0.9.1")), 15008))
                .build();
        Workload a =
                pod("ns", "a", "10.0.2.1").services(memberOf(svc, Map.of())).build();
        Route.Hbone r = (Route.Hbone) route(state(List.of(client, a, waypoint), List.of(svc)), "10.96.0.10", 80);
        assertThat(r.viaWaypoint()).isTrue();
        assertThat(r.hboneAddress()).isEqualTo(addr("10.0.9.1", 15008));
        assertThat(r.authority()).isEqualTo("10.96.0.10:80");
        assertThat(r.expectedIdentities()).containsExactly(waypoint.identity());
    }

    @Test
    void waypointServiceByHostnameIsResolvedToOneOfItsEndpoints() {
        Service waypointSvc = service("ns", "waypoint", "10.96.9.9", Map.of(15008, 15008))
                .subjectAltNames(List.of("spiffe://cluster.local/ns/ns/sa/waypoint"))
                .build();
        Workload wp = pod("ns", "waypoint-pod", "10.0.9.1")
                .services(memberOf(waypointSvc, Map.of()))
                .build();
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .waypoint(new GatewayAddress(
                        new GatewayAddress.Hostname(new NamespacedHostname("ns", waypointSvc.hostname())), 0))
                .build();
        Route.Hbone r = (Route.Hbone) route(state(List.of(client, wp), List.of(svc, waypointSvc)), "10.96.0.10", 80);
        assertThat(r.workload()).isEqualTo(wp);
        assertThat(r.hboneAddress()).isEqualTo(addr("10.0.9.1", 15008));
        assertThat(r.expectedIdentities())
                .containsExactly(SpiffeId.parse("spiffe://cluster.local/ns/ns/sa/waypoint"), wp.identity());
    }

    @Test
    void workloadAddressedTrafficUsesTheWorkloadWaypoint() {
        Workload waypoint = pod("ns", "waypoint", "10.0.9.1").build();
        Workload server = pod("ns", "server", "10.0.2.1")
                .waypoint(new GatewayAddress(new GatewayAddress.Address(vip("10.0.9.1")), 15008))
                .build();
        Route.Hbone r = (Route.Hbone) route(state(List.of(client, server, waypoint), List.of()), "10.0.2.1", 8080);
        assertThat(r.viaWaypoint()).isTrue();
        assertThat(r.authority()).isEqualTo("10.0.2.1:8080");
        assertThat(r.workload()).isEqualTo(waypoint);
        assertThat(r.destination()).isEqualTo(server);
    }

    @Test
    void theWaypointItselfIsNotSentToItself() {
        Workload waypoint = pod("ns", "waypoint", "10.0.9.1").build();
        Workload server = pod("ns", "server", "10.0.2.1")
                .waypoint(new GatewayAddress(new GatewayAddress.Address(vip("10.0.9.1")), 15008))
                .build();
        Route.Hbone r = (Route.Hbone)
                router.route(state(List.of(server, waypoint), List.of()), waypoint, addr("10.0.2.1", 8080));
        assertThat(r.viaWaypoint()).isFalse();
        assertThat(r.hboneAddress()).isEqualTo(addr("10.0.2.1", 15008));
    }

    @Test
    void weightedWaypointsAreChosenInProportionToWeight() {
        Workload w1 = pod("ns", "wp1", "10.0.9.1").build();
        Workload w2 = pod("ns", "wp2", "10.0.9.2").build();
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .weightedWaypoints(List.of(
                        new Service.WeightedWaypoint(
                                new GatewayAddress(new GatewayAddress.Address(vip("10.0.9.1")), 0), 1),
                        new Service.WeightedWaypoint(
                                new GatewayAddress(new GatewayAddress.Address(vip("10.0.9.2")), 0), 9)))
                .build();
        ProxyState state = state(List.of(client, w1, w2), List.of(svc));
        int toW2 = 0;
        for (int i = 0; i < 2000; i++) {
            if (((Route.Hbone) route(state, "10.96.0.10", 80)).workload().equals(w2)) {
                toW2++;
            }
        }
        assertThat(toW2).isBetween(1700, 1900);
    }

    @Test
    void workloadOnAnotherNetworkIsRefusedWithAReason() {
        Workload remote = pod("ns", "remote", "10.0.2.1").network("other").build();
        Route r = router.route(
                ProxyState.of(List.of(client, remote), List.of(), List.of()), client, addr("10.0.2.1", 80));
        // Looked up on the client's network, the remote workload is simply not there.
        assertThat(r).isInstanceOf(Route.Passthrough.class);
    }

    // ---- Waypoints as upstream (round-2 facts, section 5) ----

    private static GatewayAddress waypointAt(String ip) {
        return new GatewayAddress(new GatewayAddress.Address(vip(ip)), 15008);
    }

    private static GatewayAddress waypointNamed(Service waypointService) {
        return new GatewayAddress(
                new GatewayAddress.Hostname(
                        new NamespacedHostname(waypointService.namespace(), waypointService.hostname())),
                15008);
    }

    @Test
    void weightedWaypointsWithZeroWeightAreNeverDrawnAndUnsignedWeightsCount() {
        Workload w1 = pod("ns", "wp1", "10.0.9.1").build();
        Workload w2 = pod("ns", "wp2", "10.0.9.2").build();
        Workload w3 = pod("ns", "wp3", "10.0.9.3").build();
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .waypoint(waypointAt("10.0.9.3"))
                .weightedWaypoints(List.of(
                        new Service.WeightedWaypoint(waypointAt("10.0.9.1"), 0),
                        // 0xFFFFFFFF as a u32: the heaviest possible weight, not a negative one
                        new Service.WeightedWaypoint(waypointAt("10.0.9.2"), -1)))
                .build();
        ProxyState state = state(List.of(client, w1, w2, w3), List.of(svc));
        for (int i = 0; i < 500; i++) {
            assertThat(((Route.Hbone) route(state, "10.96.0.10", 80)).workload())
                    .isEqualTo(w2);
        }
    }

    @Test
    void weightedWaypointsAllWeighingZeroFallBackToTheServiceWaypoint() {
        Workload w1 = pod("ns", "wp1", "10.0.9.1").build();
        Workload fallback = pod("ns", "wp-default", "10.0.9.3").build();
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .waypoint(waypointAt("10.0.9.3"))
                .weightedWaypoints(List.of(new Service.WeightedWaypoint(waypointAt("10.0.9.1"), 0)))
                .build();
        ProxyState state = state(List.of(client, w1, fallback), List.of(svc));
        for (int i = 0; i < 100; i++) {
            assertThat(((Route.Hbone) route(state, "10.96.0.10", 80)).workload())
                    .isEqualTo(fallback);
        }
        Service noWaypoint = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .weightedWaypoints(List.of(new Service.WeightedWaypoint(waypointAt("10.0.9.1"), 0)))
                .build();
        Workload a = pod("ns", "a", "10.0.2.1")
                .services(memberOf(noWaypoint, Map.of()))
                .build();
        Route.Hbone direct = (Route.Hbone) route(state(List.of(client, w1, a), List.of(noWaypoint)), "10.96.0.10", 80);
        assertThat(direct.viaWaypoint()).isFalse();
    }

    @Test
    void aServiceWaypointAppliesEvenToTrafficFromTheWaypointItself() {
        Workload waypoint = pod("ns", "waypoint", "10.0.9.1").build();
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .waypoint(waypointAt("10.0.9.1"))
                .build();
        Workload a =
                pod("ns", "a", "10.0.2.1").services(memberOf(svc, Map.of())).build();
        Route.Hbone r =
                (Route.Hbone) router.route(state(List.of(waypoint, a), List.of(svc)), waypoint, addr("10.96.0.10", 80));
        assertThat(r.viaWaypoint()).isTrue();
        assertThat(r.workload()).isEqualTo(waypoint);
    }

    @Test
    void aWaypointVipResolvesThroughItsServiceOnThePortItMapsHbonePortTo() {
        Service waypointSvc =
                service("ns", "waypoint", "10.96.9.9", Map.of(15008, 15010)).build();
        Workload mapped = pod("ns", "wp-mapped", "10.0.9.1")
                .services(memberOf(waypointSvc, Map.of(15008, 15009)))
                .build();
        Workload byService = pod("ns", "wp-svc", "10.0.9.2")
                .services(memberOf(waypointSvc, Map.of()))
                .build();
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .waypoint(waypointAt("10.96.9.9"))
                .build();
        ProxyState state = state(List.of(client, mapped, byService), List.of(svc, waypointSvc));
        Map<String, InetSocketAddress> seen = new HashMap<>();
        for (int i = 0; i < 100; i++) {
            Route.Hbone r = (Route.Hbone) route(state, "10.96.0.10", 80);
            seen.put(r.workload().name(), r.hboneAddress());
            assertThat(r.authority()).isEqualTo("10.96.0.10:80");
        }
        // Endpoint port map first, then the waypoint service's target port for hbone_mtls_port.
        assertThat(seen)
                .containsEntry("wp-mapped", addr("10.0.9.1", 15009))
                .containsEntry("wp-svc", addr("10.0.9.2", 15010));
    }

    @Test
    void waypointEndpointsCountOnlyIfTheServiceDefinesTheHbonePortOrTheyHaveAnApplicationTunnel() {
        Service waypointSvc =
                service("ns", "waypoint", "10.96.9.9", Map.of(80, 8080)).build();
        Workload plain = pod("ns", "wp-plain", "10.0.9.1")
                .services(memberOf(waypointSvc, Map.of()))
                .build();
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .waypoint(waypointNamed(waypointSvc))
                .build();
        Route refused = route(state(List.of(client, plain), List.of(svc, waypointSvc)), "10.96.0.10", 80);
        assertThat(refused).isInstanceOf(Route.Refuse.class);
        assertThat(((Route.Refuse) refused).reason()).contains("unknown waypoint");

        Workload tunnelled = plain.toBuilder()
                .applicationTunnel(new Workload.ApplicationTunnel(Workload.ApplicationTunnel.Protocol.PROXY, 15088))
                .build();
        Route.Hbone r =
                (Route.Hbone) route(state(List.of(client, tunnelled), List.of(svc, waypointSvc)), "10.96.0.10", 80);
        // No port mapping and no service target: an application tunnel with a port is reached on hbone_mtls_port.
        assertThat(r.hboneAddress()).isEqualTo(addr("10.0.9.1", 15008));
        Workload tunnelWithoutPort = plain.toBuilder()
                .applicationTunnel(new Workload.ApplicationTunnel(Workload.ApplicationTunnel.Protocol.PROXY, 0))
                .build();
        assertThat(route(state(List.of(client, tunnelWithoutPort), List.of(svc, waypointSvc)), "10.96.0.10", 80))
                .isInstanceOf(Route.Refuse.class);
    }

    @Test
    void anUnresolvableOrPassthroughWaypointIsAnUnknownWaypointRefusal() {
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .waypoint(waypointAt("10.0.9.99"))
                .build();
        Workload a =
                pod("ns", "a", "10.0.2.1").services(memberOf(svc, Map.of())).build();
        Route missing = route(state(List.of(client, a), List.of(svc)), "10.96.0.10", 80);
        assertThat(((Route.Refuse) missing).reason()).startsWith("unknown waypoint");

        Service passthroughWaypoint = service("ns", "waypoint", "10.96.9.9", Map.of(15008, 15008))
                .loadBalancing(new LoadBalancing(
                        List.of(), LoadBalancing.Mode.PASSTHROUGH, LoadBalancing.HealthPolicy.ONLY_HEALTHY))
                .build();
        Workload wp = pod("ns", "wp", "10.0.9.1")
                .services(memberOf(passthroughWaypoint, Map.of()))
                .build();
        Service behind = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .waypoint(waypointAt("10.96.9.9"))
                .build();
        Route r = route(state(List.of(client, wp, a), List.of(behind, passthroughWaypoint)), "10.96.0.10", 80);
        assertThat(((Route.Refuse) r).reason()).startsWith("unknown waypoint").contains("PASSTHROUGH");
    }

    @Test
    void waypointAddressFamilyFollowsTheWaypointIpOrForAHostnameTheOriginalDestination() {
        Service waypointSvc =
                service("ns", "waypoint", "fd00::99", Map.of(15008, 15008)).build();
        Workload dual = pod("ns", "wp", "10.0.9.1", "fd00::9:1")
                .services(memberOf(waypointSvc, Map.of()))
                .build();
        Service byIp = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .waypoint(waypointAt("fd00::99"))
                .build();
        ProxyState ipState = state(List.of(client, dual), List.of(byIp, waypointSvc));
        assertThat(((Route.Hbone) route(ipState, "10.96.0.10", 80)).hboneAddress())
                .isEqualTo(addr("fd00::9:1", 15008));
        Service byName = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .vips(List.of(vip("10.96.0.10"), vip("fd00::10")))
                .waypoint(waypointNamed(waypointSvc))
                .build();
        ProxyState nameState = state(List.of(client, dual), List.of(byName, waypointSvc));
        assertThat(((Route.Hbone) route(nameState, "10.96.0.10", 80)).hboneAddress())
                .isEqualTo(addr("10.0.9.1", 15008));
        assertThat(((Route.Hbone) route(nameState, "fd00::10", 80)).hboneAddress())
                .isEqualTo(addr("fd00::9:1", 15008));
    }

    @Test
    void waypointEndpointsAreBalancedWithTheWaypointServicesLocalityAndHealthPolicy() {
        Service waypointSvc = service("ns", "waypoint", "10.96.9.9", Map.of(15008, 15008))
                .loadBalancing(new LoadBalancing(
                        List.of(LoadBalancing.Scope.ZONE),
                        LoadBalancing.Mode.STRICT,
                        LoadBalancing.HealthPolicy.ALLOW_ALL))
                .build();
        Workload me = pod("client-ns", "client", "10.0.1.1")
                .locality(new Locality("r1", "z1", ""))
                .build();
        Workload near = pod("ns", "wp-near", "10.0.9.1")
                .services(memberOf(waypointSvc, Map.of()))
                .locality(new Locality("r1", "z1", ""))
                .status(Workload.HealthStatus.UNHEALTHY)
                .build();
        Workload far = pod("ns", "wp-far", "10.0.9.2")
                .services(memberOf(waypointSvc, Map.of()))
                .locality(new Locality("r1", "z2", ""))
                .build();
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080))
                .waypoint(waypointAt("10.96.9.9"))
                .build();
        ProxyState state = state(List.of(me, near, far), List.of(svc, waypointSvc));
        for (int i = 0; i < 50; i++) {
            assertThat(((Route.Hbone) router.route(state, me, addr("10.96.0.10", 80)))
                            .workload()
                            .name())
                    .isEqualTo("wp-near");
        }
    }

    @Test
    void networkListedFirstOutweighsTheOtherScopesAndAMismatchOnlySkipsIt() {
        LoadBalancing failover = new LoadBalancing(
                List.of(LoadBalancing.Scope.NETWORK, LoadBalancing.Scope.REGION, LoadBalancing.Scope.ZONE),
                LoadBalancing.Mode.FAILOVER,
                LoadBalancing.HealthPolicy.ONLY_HEALTHY);
        Workload me = pod("client-ns", "client", "10.0.1.1")
                .network("n1")
                .locality(new Locality("r1", "z1", ""))
                .build();
        ProxyState.Endpoint sameNetworkOtherRegion =
                endpoint(pod("ns", "a", "10.0.2.1").network("n1").locality(new Locality("r2", "z9", "")));
        ProxyState.Endpoint otherNetworkSameZone =
                endpoint(pod("ns", "b", "10.0.2.2").network("n2").locality(new Locality("r1", "z1", "")));
        ProxyState.Endpoint otherNetworkOtherRegion =
                endpoint(pod("ns", "c", "10.0.2.3").network("n2").locality(new Locality("r3", "z1", "")));
        // a: 2 (network) ; b: 0 + region + zone = 2 ; c: 0. A mismatching network does not end the count.
        assertThat(OutboundRouter.rank(
                        List.of(sameNetworkOtherRegion, otherNetworkSameZone, otherNetworkOtherRegion), failover, me))
                .containsExactly(sameNetworkOtherRegion, otherNetworkSameZone);
        assertThat(OutboundRouter.rank(List.of(otherNetworkSameZone, otherNetworkOtherRegion), failover, me))
                .containsExactly(otherNetworkSameZone);
        ProxyState.Endpoint everything =
                endpoint(pod("ns", "d", "10.0.2.4").network("n1").locality(new Locality("r1", "z1", "")));
        LoadBalancing strict = new LoadBalancing(
                failover.routingPreference(), LoadBalancing.Mode.STRICT, LoadBalancing.HealthPolicy.ONLY_HEALTHY);
        assertThat(OutboundRouter.rank(List.of(otherNetworkSameZone, everything), strict, me))
                .containsExactly(everything);
        assertThat(OutboundRouter.rank(List.of(otherNetworkSameZone), strict, me))
                .isEmpty();
    }

    private static ProxyState.Endpoint endpoint(Workload.Builder workload) {
        return new ProxyState.Endpoint(workload.build(), Map.of());
    }
}
