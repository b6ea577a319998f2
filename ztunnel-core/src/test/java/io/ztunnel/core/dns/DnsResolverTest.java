package io.ztunnel.core.dns;

import static io.ztunnel.core.state.Fixtures.ip;
import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import java.net.InetAddress;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Answers from the state: which names match, which addresses, when empty, when forwarded. */
class DnsResolverTest {
    private static final int A = DnsResolver.TYPE_A;
    private static final int AAAA = DnsResolver.TYPE_AAAA;

    private final Workload client = Workload.builder("Kubernetes//Pod/ns1/client")
            .name("client")
            .namespace("ns1")
            .addresses(List.of(ip("10.0.0.9")))
            .network("nw1")
            .build();

    private static Service.Builder svc(String ns, String name, String... vips) {
        return Service.builder(ns, name, name + "." + ns + ".svc.cluster.local")
                .vips(Arrays.stream(vips)
                        .map(v -> {
                            String[] p = v.split("/", 2);
                            return new NetworkAddress(p[0], ip(p[1]));
                        })
                        .toList())
                .ports(Map.of(80, 8080));
    }

    private DnsResolver resolver(boolean ipv6, String preferred) {
        return new DnsResolver("cluster.local", ipv6, preferred, DnsResolver.podSearchDomains("cluster.local"));
    }

    private DnsResolver.Result resolve(ProxyState state, String name, int type) {
        return resolver(true, "").resolve(state, client, name, type);
    }

    private static ProxyState state(List<Service> services, Workload... workloads) {
        return ProxyState.of(List.of(workloads), services, List.of());
    }

    private static List<InetAddress> addresses(DnsResolver.Result r) {
        return ((DnsResolver.Local) r).addresses();
    }

    @Test
    void serviceVipByShortNameNamespaceAndFqdnOwnedByTheAskedName() {
        ProxyState s = state(List.of(svc("ns1", "web", "nw1/10.96.0.1").build()));
        for (String name : List.of("web.", "web.ns1.", "web.ns1.svc.", "web.ns1.svc.cluster.local.")) {
            DnsResolver.Result r = resolve(s, name, A);
            assertThat(r).as(name).isEqualTo(new DnsResolver.Local(name, null, List.of(ip("10.96.0.1")), "success"));
        }
    }

    @Test
    void aNameFoundByStrippingASearchDomainIsAnsweredWithACnameToTheStrippedName() {
        ProxyState s = state(List.of(svc("ns1", "web", "nw1/10.96.0.1").build()));
        // What a resolver sends for "web.ns1" with the pod's search list: web.ns1.ns1.svc.cluster.local.
        DnsResolver.Result r = resolve(s, "web.ns1.ns1.svc.cluster.local.", A);
        assertThat(r)
                .isEqualTo(new DnsResolver.Local(
                        "web.ns1.", "web.ns1.ns1.svc.cluster.local.", List.of(ip("10.96.0.1")), "success"));
    }

    @Test
    void serviceEntryHostsAndWildcardsMatchWithoutACname() {
        Service external = Service.builder("ns2", "ext", "api.example.com")
                .vips(List.of(new NetworkAddress("nw1", ip("240.240.0.1"))))
                .build();
        Service wildcard = Service.builder("ns2", "wild", "*.wild.example")
                .vips(List.of(new NetworkAddress("nw1", ip("240.240.0.2"))))
                .build();
        ProxyState s = state(List.of(external, wildcard));
        assertThat(addresses(resolve(s, "api.example.com.", A))).containsExactly(ip("240.240.0.1"));
        assertThat(resolve(s, "a.b.wild.example.ns1.svc.cluster.local.", A))
                .isEqualTo(new DnsResolver.Local(
                        "a.b.wild.example.ns1.svc.cluster.local.", null, List.of(ip("240.240.0.2")), "success"));
        assertThat(resolve(s, "other.example.com.", A)).isEqualTo(DnsResolver.FORWARD);
    }

    @Test
    void onlyVipsOnTheClientsNetworkOfTheAskedFamilyAreReturned() {
        ProxyState s = state(List.of(svc("ns1", "web", "nw1/10.96.0.1", "nw2/10.96.0.2", "nw1/fd00::1", "nw1/10.96.0.3")
                .build()));
        assertThat(addresses(resolve(s, "web.", A))).containsExactlyInAnyOrder(ip("10.96.0.1"), ip("10.96.0.3"));
        assertThat(addresses(resolve(s, "web.", AAAA))).containsExactly(ip("fd00::1"));
    }

    @Test
    void emptyAuthoritativeAnswersNeverNxdomain() {
        ProxyState s = state(List.of(
                svc("ns1", "v4", "nw1/10.96.0.1")
                        .ipFamilies(Service.IpFamilies.IPV4_ONLY)
                        .build(),
                svc("ns1", "v6", "nw1/fd00::1")
                        .ipFamilies(Service.IpFamilies.IPV6_ONLY)
                        .build(),
                svc("ns1", "auto", "nw1/10.96.0.4").build()));
        assertThat(resolve(s, "v4.", AAAA))
                .isEqualTo(new DnsResolver.Local("v4.", null, List.of(), "service does not support this record type"));
        assertThat(resolve(s, "v6.", A))
                .isEqualTo(new DnsResolver.Local("v6.", null, List.of(), "service does not support this record type"));
        assertThat(resolve(s, "auto.", AAAA)).isEqualTo(new DnsResolver.Local("auto.", null, List.of(), "no records"));
        assertThat(resolver(false, "").resolve(s, client, "v6.", AAAA))
                .as("IPV6_ENABLED=false")
                .isEqualTo(new DnsResolver.Local("v6.", null, List.of(), "service does not support this record type"));
    }

    @Test
    void headlessServicesAnswerOneAddressPerEndpointOnAnyNetwork() {
        Service headless = svc("ns1", "db").build();
        Workload db0 = Workload.builder("Kubernetes//Pod/ns1/db-0")
                .name("db-0")
                .namespace("ns1")
                .network("nw2")
                .addresses(List.of(ip("10.1.0.1"), ip("10.1.0.2"), ip("fd00::a")))
                .services(Map.of(headless.key(), Map.of(80, 8080)))
                .build();
        Workload db1 = Workload.builder("Kubernetes//Pod/ns1/db-1")
                .name("db-1")
                .namespace("ns1")
                .addresses(List.of(ip("10.1.0.3")))
                .services(Map.of(headless.key(), Map.of(80, 8080)))
                .build();
        ProxyState s = state(List.of(headless), db0, db1);
        assertThat(addresses(resolve(s, "db.", A))).containsExactlyInAnyOrder(ip("10.1.0.1"), ip("10.1.0.3"));
        assertThat(addresses(resolve(s, "db.", AAAA))).containsExactly(ip("fd00::a"));
        // A VIP-less host outside the cluster domain is not ours.
        Service vipless = Service.builder("ns1", "x", "x.example.com").build();
        assertThat(resolve(state(List.of(vipless)), "x.example.com.", A)).isEqualTo(DnsResolver.FORWARD);
    }

    @Test
    void sameHostInSeveralNamespacesPrefersTheClientsThenCanonicalThenPreferredThenFirst() {
        Service first = Service.builder("a", "s", "shared.example")
                .vips(List.of(new NetworkAddress("nw1", ip("10.9.0.1"))))
                .build();
        Service preferred = Service.builder("p", "s", "shared.example")
                .vips(List.of(new NetworkAddress("nw1", ip("10.9.0.2"))))
                .build();
        Service canonical = Service.builder("c", "s", "shared.example")
                .vips(List.of(new NetworkAddress("nw1", ip("10.9.0.3"))))
                .canonical(true)
                .build();
        Service own = Service.builder("ns1", "s", "shared.example")
                .vips(List.of(new NetworkAddress("nw1", ip("10.9.0.4"))))
                .build();
        assertThat(addresses(resolver(true, "p")
                        .resolve(state(List.of(first, preferred, canonical, own)), client, "shared.example.", A)))
                .containsExactly(ip("10.9.0.4"));
        assertThat(addresses(resolver(true, "p")
                        .resolve(state(List.of(first, preferred, canonical)), client, "shared.example.", A)))
                .containsExactly(ip("10.9.0.3"));
        assertThat(addresses(
                        resolver(true, "p").resolve(state(List.of(first, preferred)), client, "shared.example.", A)))
                .containsExactly(ip("10.9.0.2"));
        assertThat(addresses(
                        resolver(true, "").resolve(state(List.of(first, preferred)), client, "shared.example.", A)))
                .containsExactly(ip("10.9.0.1"));
    }

    @Test
    void namespaceVisibleServicesOfOtherNamespacesAreForwarded() {
        Service hidden = svc("ns2", "private", "nw1/10.96.0.7")
                .visibility(Service.Visibility.NAMESPACE)
                .build();
        assertThat(resolve(state(List.of(hidden)), "private.ns2.", A)).isEqualTo(DnsResolver.FORWARD);
    }

    @Test
    void otherTypesUnknownNamesAndWorkloadHostnamesAreForwarded() {
        Workload named = Workload.builder("Kubernetes//Pod/ns1/db-0")
                .name("db-0")
                .namespace("ns1")
                .hostname("db-0.db.ns1.svc.cluster.local")
                .addresses(List.of(ip("10.1.0.1")))
                .build();
        ProxyState s = state(List.of(svc("ns1", "web", "nw1/10.96.0.1").build()), named);
        assertThat(resolve(s, "web.", 33)).as("SRV").isEqualTo(DnsResolver.FORWARD);
        assertThat(resolve(s, "nothing.example.", A)).isEqualTo(DnsResolver.FORWARD);
        assertThat(resolve(s, "db-0.db.ns1.svc.cluster.local.", A)).isEqualTo(DnsResolver.FORWARD);
        assertThat(resolve(s, ".", A)).isEqualTo(DnsResolver.FORWARD);
    }

    @Test
    void answersAreShuffled() {
        ProxyState s = state(List.of(svc("ns1", "web", "nw1/10.96.0.1", "nw1/10.96.0.2", "nw1/10.96.0.3")
                .build()));
        Set<List<InetAddress>> orders = new HashSet<>();
        for (int i = 0; i < 200; i++) {
            orders.add(addresses(resolve(s, "web.", A)));
        }
        assertThat(orders).hasSizeGreaterThan(1);
    }
}
