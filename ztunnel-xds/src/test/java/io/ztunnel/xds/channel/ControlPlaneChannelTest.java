package io.ztunnel.xds.channel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ztunnel.xds.testing.TestCertificates;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Address parsing, tokens, root certificates, server certificate checks and header validation. */
class ControlPlaneChannelTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource({
        "https://istiod.istio-system.svc:15012, true, istiod.istio-system.svc, 15012",
        "istiod.istio-system.svc:15012, true, istiod.istio-system.svc, 15012",
        "localhost:15012, true, localhost, 15012",
        "http://127.0.0.1:15010, false, 127.0.0.1, 15010",
        "https://[::1]:15012, true, ::1, 15012",
        "https://istiod, true, istiod, 443",
        "HTTP://istiod/, false, istiod, 80",
    })
    void parsesAddressesLikeUpstream(String value, boolean tls, String host, int port) {
        ControlPlaneAddress address = ControlPlaneAddress.parse(value);
        assertThat(address).isEqualTo(new ControlPlaneAddress(tls, host, port));
    }

    @Test
    void rejectsUnusableAddresses() {
        assertThatThrownBy(() -> ControlPlaneAddress.parse("")).hasMessageContaining("empty");
        assertThatThrownBy(() -> ControlPlaneAddress.parse("grpc://x:1"))
                .hasMessageContaining("scheme must be https or http");
        assertThatThrownBy(() -> ControlPlaneAddress.parse("https://x:1/path"))
                .hasMessageContaining("scheme://host:port only");
        assertThatThrownBy(() -> ControlPlaneAddress.parse("https://:15012"))
                .hasMessageContaining("\"https://:15012\"");
        assertThat(new ControlPlaneAddress(true, "::1", 15012).authority()).isEqualTo("[::1]:15012");
    }

    @Test
    void fileTokensAreReadOnEveryCall() throws Exception {
        Path file = Files.writeString(dir.resolve("token"), "abc\n");
        AuthToken token = AuthToken.file(file);
        assertThat(token.read()).contains("abc");
        Files.writeString(file, "def");
        assertThat(token.read()).contains("def");
        Files.writeString(file, "  \n");
        assertThatThrownBy(token::read).isInstanceOf(IOException.class).hasMessageContaining("is empty");
        Files.delete(file);
        assertThatThrownBy(token::read)
                .isInstanceOf(IOException.class)
                .hasMessageContaining("cannot read token file " + file);
    }

    @Test
    void tokenSettingIsAFileWhenItExistsOtherwiseTheToken() throws Exception {
        Path file = Files.writeString(dir.resolve("token"), "from-file");
        assertThat(AuthToken.fromSetting(file.toString()).read()).contains("from-file");
        assertThat(AuthToken.fromSetting("eyJhbGciOi.literal").read()).contains("eyJhbGciOi.literal");
        assertThat(AuthToken.none().read()).isEmpty();
        assertThat(AuthToken.literal("secret").toString()).doesNotContain("secret");
    }

    @Test
    void rootFilesAreReReadWhenTheyChange() throws Exception {
        TestCertificates first = new TestCertificates("first");
        TestCertificates second = new TestCertificates("second");
        Path file = Files.writeString(dir.resolve("root.pem"), first.rootPem());
        RootCertificates roots = RootCertificates.file(file);
        assertThat(roots.trustManager().getAcceptedIssuers()).containsExactly(first.root());
        assertThat(roots.trustManager()).isSameAs(roots.trustManager());

        Files.writeString(file, first.rootPem() + second.rootPem());
        assertThat(roots.trustManager().getAcceptedIssuers()).containsExactlyInAnyOrder(first.root(), second.root());

        Files.writeString(file, "garbage");
        assertThatThrownBy(roots::trustManager)
                .isInstanceOf(CertificateException.class)
                .hasMessageContaining(file.toString());
        Files.delete(file);
        assertThatThrownBy(roots::trustManager)
                .isInstanceOf(CertificateException.class)
                .hasMessageContaining("cannot read root certificate file " + file);
    }

    @Test
    void rootSettingsFollowUpstream() throws Exception {
        TestCertificates ca = new TestCertificates("inline");
        assertThat(RootCertificates.fromSetting(ca.rootPem()).trustManager().getAcceptedIssuers())
                .containsExactly(ca.root());
        assertThat(RootCertificates.fromSetting("SYSTEM").trustManager().getAcceptedIssuers())
                .isNotEmpty();
        assertThat(RootCertificates.fromSetting("/does/not/exist.pem").toString())
                .contains("/does/not/exist.pem");
        assertThatThrownBy(() -> RootCertificates.pem("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void verifiesChainAndHostNameWithAlternateFallback() throws Exception {
        TestCertificates ca = new TestCertificates("root");
        X509Certificate server = ca.issueServer(
                        List.of("istiod.istio-system.svc", "*.example.com"), List.of("10.0.0.7"))
                .certificate();
        X509Certificate[] chain = {server};
        RootCertificates roots = RootCertificates.pem(ca.rootPem());

        new ControlPlaneTrustManager(roots, "istiod.istio-system.svc", Optional.empty())
                .checkServerTrusted(chain, "ECDHE_ECDSA");
        new ControlPlaneTrustManager(roots, "ISTIOD.istio-system.svc.", Optional.empty())
                .checkServerTrusted(chain, "ECDHE_ECDSA");
        new ControlPlaneTrustManager(roots, "a.example.com", Optional.empty()).checkServerTrusted(chain, "ECDHE_ECDSA");
        new ControlPlaneTrustManager(roots, "10.0.0.7", Optional.empty()).checkServerTrusted(chain, "ECDHE_ECDSA");
        new ControlPlaneTrustManager(roots, "10.0.0.8", Optional.of("istiod.istio-system.svc"))
                .checkServerTrusted(chain, "ECDHE_ECDSA");

        assertThatThrownBy(() -> new ControlPlaneTrustManager(roots, "a.b.example.com", Optional.empty())
                        .checkServerTrusted(chain, "ECDHE_ECDSA"))
                .hasMessageContaining("none matches \"a.b.example.com\"");
        assertThatThrownBy(() -> new ControlPlaneTrustManager(roots, "example.com", Optional.of("other"))
                        .checkServerTrusted(chain, "ECDHE_ECDSA"))
                .hasMessageContaining("or the alternate host name \"other\"");
        // An IP host is only matched by an IP SAN.
        assertThatThrownBy(() -> new ControlPlaneTrustManager(roots, "10.0.0.9", Optional.empty())
                        .checkServerTrusted(chain, "ECDHE_ECDSA"))
                .isInstanceOf(CertificateException.class);
        // A certificate from another root fails chain validation before any name check.
        X509Certificate foreign = new TestCertificates("other")
                .issueServer(List.of("istiod.istio-system.svc"), List.of())
                .certificate();
        assertThatThrownBy(() -> new ControlPlaneTrustManager(roots, "istiod.istio-system.svc", Optional.empty())
                        .checkServerTrusted(new X509Certificate[] {foreign}, "ECDHE_ECDSA"))
                .isInstanceOf(CertificateException.class)
                .hasMessageNotContaining("none matches");
        assertThatThrownBy(() -> new ControlPlaneTrustManager(roots, "x", Optional.empty())
                        .checkClientTrusted(chain, "ECDHE_ECDSA"))
                .isInstanceOf(CertificateException.class);
    }

    @Test
    void validatesExtraHeaders() {
        ControlPlaneEndpoint.Builder builder =
                ControlPlaneEndpoint.builder(ControlPlaneAddress.parse("https://istiod:15012"));
        builder.header("X-Custom", "ok");
        assertThatThrownBy(() -> builder.header("x-bin", "v")).hasMessageContaining("binary");
        assertThatThrownBy(() -> builder.header("bad header", "v")).hasMessageContaining("invalid name");
        assertThatThrownBy(() -> builder.header("x-ok", "line\nbreak")).hasMessageContaining("printable ASCII");
        assertThat(builder.build().toString()).contains("x-custom");
    }
}
