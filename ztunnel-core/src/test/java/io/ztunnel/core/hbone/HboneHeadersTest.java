package io.ztunnel.core.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ztunnel.core.net.HboneAddress;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class HboneHeadersTest {

    @Test
    void parsesIpv4AndBracketedIpv6AndHostAuthorities() throws Exception {
        assertThat(HboneAddress.parse("10.0.0.1:8080"))
                .isEqualTo(new HboneAddress.Ip(new InetSocketAddress(InetAddress.getByName("10.0.0.1"), 8080)));
        assertThat(HboneAddress.parse("[fd00::1]:80"))
                .isEqualTo(new HboneAddress.Ip(new InetSocketAddress(InetAddress.getByName("fd00::1"), 80)));
        assertThat(HboneAddress.parse("reviews.default.svc.cluster.local:9080"))
                .isEqualTo(new HboneAddress.Host("reviews.default.svc.cluster.local", 9080));
    }

    @Test
    void canonicalisesIpv4MappedIpv6() {
        assertThat(HboneAddress.parse("[::ffff:10.1.2.3]:80").authority()).isEqualTo("10.1.2.3:80");
    }

    @Test
    void rejectsAuthoritiesThatAreNotHostPort() {
        assertThatThrownBy(() -> HboneAddress.parse("")).hasMessageContaining("missing :authority");
        assertThatThrownBy(() -> HboneAddress.parse("10.0.0.1")).hasMessageContaining("not host:port");
        assertThatThrownBy(() -> HboneAddress.parse("10.0.0.1:")).hasMessageContaining("not host:port");
        assertThatThrownBy(() -> HboneAddress.parse("10.0.0.1:http")).hasMessageContaining("invalid port");
        assertThatThrownBy(() -> HboneAddress.parse("10.0.0.1:65536")).hasMessageContaining("invalid port");
        assertThatThrownBy(() -> HboneAddress.parse("fd00::1:80")).hasMessageContaining("must be in brackets");
        assertThatThrownBy(() -> HboneAddress.parse("[fd00::1:80")).hasMessageContaining("unterminated");
        assertThatThrownBy(() -> HboneAddress.parse("bad host:80")).hasMessageContaining("invalid host name");
    }

    @Property
    void ipAuthoritiesRoundTrip(@ForAll("ipAddressBytes") byte[] raw, @ForAll @IntRange(max = 65535) int port)
            throws Exception {
        InetSocketAddress address = new InetSocketAddress(InetAddress.getByAddress(raw), port);
        String authority = HboneAddress.of(address).authority();
        HboneAddress parsed = HboneAddress.parse(authority);
        assertThat(parsed).isEqualTo(new HboneAddress.Ip(address));
        assertThat(parsed.port()).isEqualTo(port);
        assertThat(parsed.authority()).isEqualTo(authority);
    }

    /** IPv4 and IPv6 addresses as raw bytes, every generated input one of the two. */
    @Provide
    Arbitrary<byte[]> ipAddressBytes() {
        return Arbitraries.oneOf(
                Arbitraries.bytes().array(byte[].class).ofSize(4),
                Arbitraries.bytes().array(byte[].class).ofSize(16));
    }

    @Property
    void arbitraryAuthoritiesParseOrFailWithAReason(@ForAll String authority) {
        try {
            HboneAddress parsed = HboneAddress.parse(authority);
            assertThat(parsed.port()).isBetween(0, 65535);
        } catch (IllegalArgumentException e) {
            assertThat(e.getMessage()).isNotBlank();
        }
    }

    @Test
    void baggageEncodesIstioKeysAndSkipsEmptyValues() {
        Baggage b = new Baggage("Kubernetes", "default", "deployment", "productpage-v1", "productpage", "v1", "", "z1");
        assertThat(b.encode())
                .isEqualTo("k8s.cluster.name=Kubernetes,k8s.namespace.name=default,"
                        + "k8s.deployment.name=productpage-v1,service.name=productpage,service.version=v1,"
                        + "cloud.availability_zone=z1");
        assertThat(Baggage.parse(b.encode())).isEqualTo(b);
        assertThat(Baggage.EMPTY.encode()).isEmpty();
    }

    @Test
    void baggageParsingIsLenient() {
        Baggage b = Baggage.parse(" k8s.namespace.name = ns ;prop=1,garbage,=x,k8s.cronjob.name=nightly,other=1");
        assertThat(b.namespace()).isEqualTo("ns");
        assertThat(b.workloadType()).isEqualTo("cronjob");
        assertThat(b.workloadName()).isEqualTo("nightly");
        assertThat(Baggage.parse(null)).isEqualTo(Baggage.EMPTY);
    }

    @Test
    void baggageMembersWithEmptyValuesAreAbsentSoParsedBaggageEncodesBackToItself() {
        // Found by HboneRequestFuzzTest: "k8s.pod.name=" gave a workload type without a name, which encode() drops.
        Baggage b = Baggage.parse("k8s.pod.name=,service.name= ,k8s.namespace.name=ns");

        assertThat(b).isEqualTo(new Baggage("", "ns", "", "", "", "", "", ""));
        assertThat(Baggage.parse(b.encode())).isEqualTo(b);
    }

    @Test
    void forwardedCarriesTheClientAndTheServiceHost() throws Exception {
        InetSocketAddress v4 = new InetSocketAddress(InetAddress.getByName("10.0.0.7"), 41234);
        InetSocketAddress v6 = new InetSocketAddress(InetAddress.getByName("fd00::7"), 41234);
        assertThat(Forwarded.encode(v4, "svc.ns.svc.cluster.local"))
                .isEqualTo("for=\"10.0.0.7:41234\";host=svc.ns.svc.cluster.local");
        assertThat(Forwarded.encode(v6, null)).isEqualTo("for=\"[fd00::7]:41234\"");
        assertThat(Forwarded.host("for=\"10.0.0.7:41234\";host=svc.ns.svc.cluster.local"))
                .isEqualTo("svc.ns.svc.cluster.local");
        assertThat(Forwarded.host("for=1.2.3.4;host=\"quoted.example\", for=5.6.7.8;host=second"))
                .isEqualTo("quoted.example");
        assertThat(Forwarded.host("for=\"10.0.0.7:41234\"")).isNull();
    }

    @Test
    void traceparentIsRandomW3cPerCall() {
        String a = TraceParent.random();
        assertThat(a).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-00");
        assertThat(TraceParent.random()).isNotEqualTo(a);
    }
}
