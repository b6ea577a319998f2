package io.ztunnel.core.dns;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.ConfigException;
import io.ztunnel.core.config.DnsSettings;
import io.ztunnel.core.config.Env;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Enablement and listen address from the proxy metadata; the upstream resolvers from a resolv.conf. */
class DnsSettingsTest {
    private static Config config(Map<String, String> env) {
        return Config.from(new Env(env), Path.of("/nonexistent/mesh"));
    }

    @Test
    void onByDefaultOffOnlyWhenDnsCaptureIsSetToSomethingElseThanTrue() {
        assertThat(config(Map.of()).dns().enabled()).isTrue();
        assertThat(config(Map.of("ISTIO_META_DNS_CAPTURE", "TRUE")).dns().enabled())
                .isTrue();
        assertThat(config(Map.of("ISTIO_META_DNS_CAPTURE", "false")).dns().enabled())
                .isFalse();
        assertThat(config(Map.of("ISTIO_META_DNS_CAPTURE", "")).dns().enabled()).isFalse();
        assertThat(config(Map.of("PROXY_CONFIG", "proxyMetadata: {DNS_CAPTURE: \"no\"}"))
                        .dns()
                        .enabled())
                .isFalse();
        assertThat(config(Map.of(
                                "PROXY_CONFIG", "proxyMetadata: {DNS_CAPTURE: \"no\"}",
                                "ISTIO_META_DNS_CAPTURE", "true"))
                        .dns()
                        .enabled())
                .as("ISTIO_META_* wins over PROXY_CONFIG")
                .isTrue();
    }

    @Test
    void listenAddressIsLocalhostOrALiteral() {
        assertThat(config(Map.of()).dns()).isEqualTo(new DnsSettings(true, null, 15053, false));
        assertThat(config(Map.of("ISTIO_META_DNS_PROXY_ADDR", "localhost:5353")).dns())
                .isEqualTo(new DnsSettings(true, null, 5353, true));
        assertThat(config(Map.of("ISTIO_META_DNS_PROXY_ADDR", "127.0.0.5:53"))
                        .dns()
                        .literal())
                .isEqualTo(new InetSocketAddress(InetAddress.ofLiteral("127.0.0.5"), 53));
        assertThat(config(Map.of("ISTIO_META_DNS_PROXY_ADDR", "[::1]:53")).dns().literal())
                .isEqualTo(new InetSocketAddress(InetAddress.ofLiteral("::1"), 53));
        for (String bad : new String[] {"localhost", "dns.example:53", "1.2.3.4:99999", "::1:53", ":53"}) {
            assertThatThrownBy(() -> config(Map.of("ISTIO_META_DNS_PROXY_ADDR", bad)))
                    .as(bad)
                    .isInstanceOf(ConfigException.class)
                    .hasMessageContaining("DNS_PROXY_ADDR=" + bad);
        }
    }

    @Test
    void onDemandXdsNeedsTheDnsProxyOff() {
        assertThatThrownBy(() -> config(Map.of("XDS_ON_DEMAND", "true")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("XDS_ON_DEMAND=true cannot be used with the DNS proxy");
        assertThat(config(Map.of("XDS_ON_DEMAND", "true", "ISTIO_META_DNS_CAPTURE", "false"))
                        .dns()
                        .enabled())
                .isFalse();
    }

    @Test
    void resolvConfGivesNameserversSearchAndOptions() {
        ResolvConf conf = ResolvConf.parse("""
                # comment
                nameserver 10.96.0.10
                nameserver fe80::1%eth0
                nameserver not-an-ip
                nameserver 10.0.0.2
                nameserver 10.0.0.3
                search ns.svc.cluster.local svc.cluster.local cluster.local.
                options ndots:5 timeout:2 attempts:3 edns0 rotate
                """);
        assertThat(conf.nameservers())
                .containsExactly(
                        new InetSocketAddress(InetAddress.ofLiteral("10.96.0.10"), 53),
                        new InetSocketAddress(InetAddress.ofLiteral("fe80::1"), 53),
                        new InetSocketAddress(InetAddress.ofLiteral("10.0.0.2"), 53));
        assertThat(conf.search()).containsExactly("ns.svc.cluster.local", "svc.cluster.local", "cluster.local");
        assertThat(conf.timeout()).isEqualTo(Duration.ofSeconds(2));
        assertThat(conf.attempts()).isEqualTo(3);
        assertThat(conf.edns0()).isTrue();
        assertThat(conf.ndots()).isEqualTo(5);
        assertThat(conf.rotate()).isTrue();
        assertThat(conf.domain()).isNull();
        ResolvConf plain = ResolvConf.parse("domain example.org\nnameserver 1.1.1.1\n");
        assertThat(plain.search()).containsExactly("example.org");
        assertThat(plain.timeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(plain.attempts()).isEqualTo(2);
        assertThat(plain.edns0()).isFalse();
        assertThat(plain.domain()).isEqualTo("example.org");
        assertThat(plain.ndots()).isEqualTo(1);
        assertThat(plain.rotate()).isFalse();
    }

    @Test
    void aMissingResolvConfIsAClearError() {
        assertThatThrownBy(() -> ResolvConf.read(Path.of("/nonexistent/resolv.conf")))
                .hasMessageContaining("/nonexistent/resolv.conf")
                .hasMessageContaining("upstream resolvers: no such file;")
                .hasMessageContaining("ISTIO_META_DNS_CAPTURE=false")
                .hasMessageNotContaining("Exception");
    }
}
