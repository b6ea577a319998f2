package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.ztunnel.core.identity.TestCrls;
import io.ztunnel.core.identity.TestPki;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * {@code CRL_PATH} in whole daemons: the mesh's CA is an intermediate under a root the test holds, so a CRL from the
 * root revoking the intermediate revokes every workload. Only one daemon is given the CRL in each test, so which end
 * acts is certain: the file is changed on disk and the daemon's watcher reloads it.
 */
@Timeout(120)
class CrlMeshTest {
    @TempDir
    Path dir;

    /** The mesh the test started, closed after it. */
    private @Nullable MeshFixture started;

    private TestPki.Ca root;
    private TestPki.Ca intermediate;
    private Path crl;
    private final ListAppender<ILoggingEvent> logs = new ListAppender<>();

    @BeforeEach
    void setUp() throws Exception {
        logs.start();
        ((Logger) LoggerFactory.getLogger("access")).addAppender(logs);
        ((Logger) LoggerFactory.getLogger(Daemon.class)).addAppender(logs);
        root = TestPki.root("CN=test root", TestPki.rsa());
        intermediate = TestPki.intermediate("CN=test intermediate", TestPki.rsa(), root);
        TestPki.writePluginCa(
                dir.resolve("ca"),
                intermediate,
                new X509Certificate[] {intermediate.certificate(), root.certificate()},
                root.certificate());
        Files.createDirectories(dir.resolve("crl"));
        crl = dir.resolve("crl").resolve("ca-crl.pem");
        TestCrls.write(crl, TestCrls.pem(TestCrls.der(root)));
    }

    @AfterEach
    void tearDown() throws Exception {
        ((Logger) LoggerFactory.getLogger("access")).detachAppender(logs);
        ((Logger) LoggerFactory.getLogger(Daemon.class)).detachAppender(logs);
        if (started != null) {
            started.close();
        }
    }

    private MeshFixture startMesh(Map<String, String> clientExtra, Map<String, String> serverExtra) throws Exception {
        MeshFixture mesh = new MeshFixture(dir, clientExtra, serverExtra);
        started = mesh;
        return mesh;
    }

    private void revokeIntermediate() throws Exception {
        TestCrls.write(
                crl, TestCrls.pem(TestCrls.der(root, intermediate.certificate().getSerialNumber())));
    }

    private static boolean ends(Socket s) throws IOException {
        try {
            return s.getInputStream().read() == -1;
        } catch (SocketException e) {
            return true;
        }
    }

    private static String scrape(Daemon d) throws Exception {
        return MeshFixture.get(MeshFixture.metrics(d), "/metrics");
    }

    private List<Map<String, String>> completed(String direction) {
        return LogEvents.withMessage(logs.list, "connection complete").stream()
                .filter(l -> direction.equals(l.get("direction")))
                .toList();
    }

    @Test
    void theServerDaemonClosesALiveInboundConnectionWhenTheCrlRevokesTheClientAndRefusesNewOnes() throws Exception {
        MeshFixture mesh = startMesh(Map.of(), Map.of("CRL_PATH", crl.toString()));
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");

            revokeIntermediate();

            assertThat(ends(s)).isTrue(); // the watcher reloads (2 s after the change) and the server closes
        }
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(completed("inbound"))
                        .anySatisfy(l -> assertThat(l)
                                .containsEntry("error", "connection closed: peer certificate revoked by CRL")));
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(scrape(mesh.server))
                        .contains("istio_crl_policy_rejections_total{reporter=\"destination\"} 1")
                        .containsPattern("istio_tcp_connections_closed_total\\{reporter=\"destination\",[^}]*"
                                + "response_flags=\"CERT_REVOKED\"[^}]*} 1"));

        // A new connection: the server refuses the client's handshake.
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isNull();
        }
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(scrape(mesh.server))
                        .contains("istio_crl_policy_rejections_total{reporter=\"destination\"} 2"));
        assertThat(scrape(mesh.client)).doesNotContain("istio_crl_");
    }

    @Test
    void theClientDaemonDropsItsPooledConnectionWhenTheCrlRevokesTheServerAndRefusesItAfterwards() throws Exception {
        MeshFixture mesh = startMesh(Map.of("CRL_PATH", crl.toString()), Map.of());
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");

            revokeIntermediate();

            assertThat(ends(s)).isTrue();
        }
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(completed("outbound"))
                        .anySatisfy(l -> assertThat(l)
                                .containsEntry("error", "connection closed: peer certificate revoked by CRL")));
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(scrape(mesh.client))
                        .contains("istio_crl_policy_rejections_total{reporter=\"source\"} 1")
                        .containsPattern("istio_tcp_connections_closed_total\\{reporter=\"source\",[^}]*"
                                + "response_flags=\"CERT_REVOKED\"[^}]*} 1"));

        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isNull();
        }
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(scrape(mesh.client))
                        .contains("istio_crl_policy_rejections_total{reporter=\"source\"} 2")
                        // CERT_REVOKED is a failure flag: the dropped connection and the refused one
                        .containsPattern("istio_tcp_connections_failed_total\\{reporter=\"source\",[^}]*"
                                + "response_flags=\"CERT_REVOKED\"[^}]*} 2"));
    }

    @Test
    void aMalformedCrlAtStartIsAnErrorNamingTheFileAndTheDaemonRunsWithoutRevocationChecks() throws Exception {
        Files.writeString(crl, "-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n");
        MeshFixture mesh = startMesh(Map.of(), Map.of("CRL_PATH", crl.toString()));

        assertThat(LogEvents.withMessage(
                        logs.list, "cannot load the CRL; certificate revocation checks are off until restart"))
                .singleElement()
                .satisfies(l -> assertThat(l)
                        .containsEntry("level", "ERROR")
                        .containsEntry("path", crl.toString())
                        .hasEntrySatisfying(
                                "error",
                                e -> assertThat(e).contains("CRL_PATH=" + crl).contains("invalid CRL in PEM block 1")));
        assertThat(mesh.server.crl()).isEmpty();

        // As upstream: off for the process lifetime (no manager, so nothing watches the file), even once the file is
        // fixed and revokes the client.
        revokeIntermediate();
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
        }
    }
}
