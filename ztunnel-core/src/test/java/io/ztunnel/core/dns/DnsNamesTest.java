package io.ztunnel.core.dns;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The candidate names, expansions and wildcards follow upstream's table exactly. */
class DnsNamesTest {
    private static final String D = "cluster.local";

    @Test
    void expansionsFollowTheLabelCountTable() {
        assertThat(DnsNames.expansions("web", "ns1", D)).containsExactly("web.ns1.svc.cluster.local");
        assertThat(DnsNames.expansions("web.ns2", "ns1", D))
                .containsExactly("web.ns2.svc.cluster.local", "web.ns2.ns1.svc.cluster.local");
        assertThat(DnsNames.expansions("web.ns2.svc", "ns1", D))
                .containsExactly("web.ns2.svc.cluster.local", "web.ns2.svc.svc.cluster.local");
        assertThat(DnsNames.expansions("web.ns2.other", "ns1", D)).containsExactly("web.ns2.other.svc.cluster.local");
        assertThat(DnsNames.expansions("pod.sub.ns.svc", "ns1", D)).containsExactly("pod.sub.ns.svc.cluster.local");
        assertThat(DnsNames.expansions("pod.sub.ns.notsvc", "ns1", D)).isEmpty();
        assertThat(DnsNames.expansions("web.ns2.svc.cluster.local", "ns1", D)).isEmpty();
    }

    @Test
    void searchDomainsAreStrippedWithoutRegardToCaseButNeverToNothing() {
        assertThat(DnsNames.strip("web.ns.SVC.cluster.local", "svc.cluster.local"))
                .isEqualTo("web.ns");
        assertThat(DnsNames.strip("svc.cluster.local", "svc.cluster.local")).isNull();
        assertThat(DnsNames.strip("web.ns.a.different.domain", "svc.cluster.local"))
                .isNull();
        assertThat(DnsNames.strip("xsvc.cluster.local", "svc.cluster.local")).isNull();
    }

    @Test
    void wildcardsGoFromTheNameToTheShortestSuffix() {
        assertThat(DnsNames.wildcards("www.example.com")).containsExactly("www.example.com", "*.example.com", "*.com");
        assertThat(DnsNames.wildcards("svc1")).containsExactly("svc1");
    }

    @Test
    void aliasesTryTheNameThenItsExpansionsThenEachStrippedSearchDomain() {
        List<String> search = List.of("ns1.svc.cluster.local", "svc.cluster.local", "cluster.local");
        assertThat(DnsNames.aliases("web.ns1.svc.cluster.local", "ns1", D, search))
                .containsExactly(
                        new DnsNames.Alias("web.ns1.svc.cluster.local", null),
                        new DnsNames.Alias("web", "web"),
                        new DnsNames.Alias("web.ns1", "web.ns1"),
                        new DnsNames.Alias("web.ns1.ns1.svc.cluster.local", "web.ns1"),
                        new DnsNames.Alias("web.ns1.svc", "web.ns1.svc"),
                        new DnsNames.Alias("web.ns1.svc.svc.cluster.local", "web.ns1.svc"));
        // The expansion of the stripped "web" is the name itself, which keeps its first place.
    }
}
