package io.ztunnel.core.app;

import static io.ztunnel.core.control.XdsProtos.address;
import static io.ztunnel.core.control.XdsProtos.member;
import static io.ztunnel.core.control.XdsProtos.service;
import static io.ztunnel.core.control.XdsProtos.workload;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.control.XdsProtos;
import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.WorkloadCertificate;
import io.ztunnel.core.testing.TestApps;
import io.ztunnel.xds.proto.security.Action;
import io.ztunnel.xds.testing.FakeIstiod;
import io.ztunnel.xds.testing.TestCertificates;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Two dedicated-mode daemons (client on 127.0.0.2 with SOCKS5, server-a on 127.0.0.3) fed only by the fake istiod:
 * workloads, a service and later a DENY policy arrive over Delta xDS, and both daemons' workload certificates come
 * from istiod's CA (no local CA). Traffic flows over HBONE with those certificates until the policy refuses it.
 */
@Timeout(120)
class XdsMeshTest {
    private static final String ECHO = "server/echo.server.svc.cluster.local";
    private static final SpiffeId CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/client/sa/client");
    private static final SpiffeId SERVER = SpiffeId.parse("spiffe://cluster.local/ns/server/sa/server-a");

    @TempDir
    Path dir;

    private FakeIstiod istiod;
    private TestApps.Server app;
    private Daemon client;
    private Daemon server;
    private int socksPort;
    private final ListAppender<ILoggingEvent> logs = new ListAppender<>();

    @BeforeEach
    void setUp() throws Exception {
        logs.start();
        ((Logger) LoggerFactory.getLogger("access")).addAppender(logs);
        istiod = FakeIstiod.startTls();
        istiod.setAddress(address(workload("client", "client", "127.0.0.2")));
        istiod.setAddress(address(member(workload("server", "server-a", "127.0.0.3"), ECHO, 80, 8080)));
        istiod.setAddress(service("server", "echo", "127.10.0.1", 80, 8080));
        app = MeshFixture.banner("server-a", new InetSocketAddress("127.0.0.3", 8080));
        socksPort = MeshFixture.freePort();
        client = Daemon.start(config(
                "client/client/client",
                "127.0.0.2",
                Map.of("UNSTABLE_ENABLE_SOCKS5", "true", "SOCKS5_PORT", String.valueOf(socksPort))));
        server = Daemon.start(config("server/server-a/server-a", "127.0.0.3", Map.of()));
    }

    @AfterEach
    void tearDown() throws Exception {
        ((Logger) LoggerFactory.getLogger("access")).detachAppender(logs);
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
        if (app != null) {
            app.close();
        }
        istiod.close();
    }

    private Config config(String workload, String ip, Map<String, String> extra) throws Exception {
        return IstiodDaemons.config(istiod, dir, workload, ip, extra);
    }

    private Socket connect(String ip, int port) throws Exception {
        Socket s = new Socket(new Proxy(Proxy.Type.SOCKS, new InetSocketAddress("127.0.0.2", socksPort)));
        s.setSoTimeout(10_000);
        s.connect(new InetSocketAddress(ip, port), 10_000);
        return s;
    }

    private List<Map<String, String>> completed() {
        return LogEvents.withMessage(logs.list, "connection complete");
    }

    @Test
    void trafficFlowsOverHboneWithIstiodCertificatesUntilAnXdsDenyPolicyRefusesIt() throws Exception {
        await().atMost(Duration.ofSeconds(30))
                .until(() -> client.readiness().isReady() && server.readiness().isReady());
        assertThat(server.state().current().workloadCount()).isEqualTo(2);

        try (Socket s = connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
            s.getOutputStream().write("ping".getBytes());
            assertThat(new String(s.getInputStream().readNBytes(4))).isEqualTo("ping");
        }
        try (Socket s = connect("127.10.0.1", 80)) {
            assertThat(MeshFixture.banner(s))
                    .as("through the service VIP from xDS")
                    .isEqualTo("server-a");
        }
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(() -> assertThat(completed())
                        .filteredOn(l -> "inbound".equals(l.get("direction")))
                        .hasSize(2)
                        .allSatisfy(l -> assertThat(l)
                                .containsEntry("src.identity", CLIENT.toString())
                                .containsEntry("dst.workload", "server-a")));

        // Both workload certificates were signed by istiod (its root is the mesh trust anchor), in dedicated mode
        // without impersonation.
        assertIssuedByIstiod(client.certificates(), CLIENT);
        assertIssuedByIstiod(server.certificates(), SERVER);
        assertThat(istiod.caRequests())
                .hasSize(2)
                .allSatisfy(r -> assertThat(r.request().hasMetadata()).isFalse());
        assertThat(istiod.caRequests())
                .extracting(r -> TestCertificates.parseCsr(r.request().getCsr()).uriSans())
                .containsExactlyInAnyOrder(List.of(CLIENT.toString()), List.of(SERVER.toString()));

        istiod.setAuthorization(XdsProtos.principalPolicy("server", "deny-client", Action.DENY, CLIENT.principal()));
        await().atMost(Duration.ofSeconds(10))
                .until(() -> server.state().current().policy("server/deny-client") != null);
        try (Socket s = connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isNull();
        }
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(
                        () -> assertThat(completed())
                                .anySatisfy(
                                        l -> assertThat(l)
                                                .containsEntry("direction", "inbound")
                                                .containsEntry("level", "ERROR")
                                                .containsEntry(
                                                        "error",
                                                        "connection closed due to policy rejection: explicitly denied by: server/deny-client")));
        assertThat(istiod.nacks()).isEmpty();
    }

    private void assertIssuedByIstiod(CertificateManager certificates, SpiffeId identity) {
        assertThat(certificates.status()).anySatisfy(s -> {
            assertThat(s.identity()).isEqualTo(identity);
            assertThat(s.state()).isEqualTo(CertificateManager.State.AVAILABLE);
            WorkloadCertificate certificate = s.certificate();
            assertThat(certificate).isNotNull();
            assertThat(certificate.leaf().getIssuerX500Principal())
                    .isEqualTo(istiod.root().getSubjectX500Principal());
            assertThat(certificate.roots()).containsExactly(istiod.root());
        });
    }
}
