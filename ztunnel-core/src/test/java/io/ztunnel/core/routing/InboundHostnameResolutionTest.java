package io.ztunnel.core.routing;

import static io.ztunnel.core.state.Fixtures.addr;
import static io.ztunnel.core.state.Fixtures.memberOf;
import static io.ztunnel.core.state.Fixtures.pod;
import static io.ztunnel.core.state.Fixtures.service;
import static io.ztunnel.core.state.Fixtures.state;
import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.core.net.HboneAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Host-name authorities (what a CONNECT through a network gateway asks for): which service the name means here. */
class InboundHostnameResolutionTest {
    private final InboundResolver resolver = new InboundResolver(RoutingConfig.defaults(false));

    private InboundResolver.Result resolve(ProxyState state, Workload me, String authority) {
        return resolver.resolve(state, me, addr("10.0.2.1", 15008), HboneAddress.parse(authority));
    }

    /** The same host name in two namespaces, mapping port 80 to different target ports. */
    private static Service web(String ns, int target, Service.Visibility visibility) {
        return Service.builder(ns, "web", "web.shared.example")
                .ports(Map.of(80, target))
                .visibility(visibility)
                .build();
    }

    @Test
    void theLocalNamespacesServiceWinsOverAnotherNamespacesOfTheSameName() {
        Service theirs = web("other", 7070, Service.Visibility.PUBLIC);
        Service ours = web("ns", 8080, Service.Visibility.PUBLIC);
        Workload local = pod("ns", "web-1", "10.0.2.1").build();
        assertThat(resolve(state(List.of(local), List.of(theirs, ours)), local, "web.shared.example:80"))
                .isEqualTo(new InboundResolver.Target(addr("10.0.2.1", 8080), List.of(ours)));
    }

    @Test
    void anotherNamespacesServiceVisibleOnlyThereIsNotFound() {
        Service hidden = web("other", 7070, Service.Visibility.NAMESPACE);
        Workload local = pod("ns", "web-1", "10.0.2.1").build();
        InboundResolver.Result r = resolve(state(List.of(local), List.of(hidden)), local, "web.shared.example:80");
        assertThat(r)
                .isInstanceOfSatisfying(
                        InboundResolver.Failure.class,
                        f -> assertThat(f.status().code()).isEqualTo(503));
        Service visible = web("other", 7070, Service.Visibility.PUBLIC);
        assertThat(resolve(state(List.of(local), List.of(visible)), local, "web.shared.example:80"))
                .isEqualTo(new InboundResolver.Target(addr("10.0.2.1", 7070), List.of(visible)));
    }

    @Test
    void theEndpointPortMapOfThisWorkloadWinsOverTheServiceTargetPort() {
        Service svc = service("ns", "web", "10.96.0.10", Map.of(80, 8080)).build();
        Workload local = pod("ns", "web-1", "10.0.2.1")
                .services(memberOf(svc, Map.of(80, 9090)))
                .build();
        assertThat(resolve(state(List.of(local), List.of(svc)), local, "web.ns.svc.cluster.local:80"))
                .isEqualTo(new InboundResolver.Target(addr("10.0.2.1", 9090), List.of(svc)));
    }
}
