package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ztunnel.core.state.Workload;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** Two daemons in dedicated mode on loopback, driven through SOCKS5, configured by a watched local config file. */
@Timeout(120)
class MeshTest {
    @TempDir
    Path dir;

    /** The mesh the test started, closed after it. */
    private @Nullable MeshFixture started;

    private final ListAppender<ILoggingEvent> logs = new ListAppender<>();

    @BeforeEach
    void captureLogs() {
        logs.start();
        ((Logger) LoggerFactory.getLogger("access")).addAppender(logs);
        ((Logger) LoggerFactory.getLogger(Daemon.class)).addAppender(logs);
    }

    @AfterEach
    void tearDown() throws Exception {
        ((Logger) LoggerFactory.getLogger("access")).detachAppender(logs);
        ((Logger) LoggerFactory.getLogger(Daemon.class)).detachAppender(logs);
        if (started != null) {
            started.close();
        }
    }

    private MeshFixture startMesh(Map<String, String> serverExtra) throws Exception {
        MeshFixture mesh = new MeshFixture(dir, serverExtra);
        started = mesh;
        return mesh;
    }

    /** Log events with {@code message}, each as its key-value fields plus {@code level}. */
    private List<Map<String, String>> lines(String message) {
        return LogEvents.withMessage(logs.list, message);
    }

    @Test
    void serviceVipIsBalancedOverBothEndpointsOverHboneOrTcpByProtocol() throws Exception {
        MeshFixture mesh = startMesh(Map.of());
        Map<String, Integer> seen = new HashMap<>();
        for (int i = 0; i < 40; i++) {
            try (Socket s = mesh.connect("127.10.0.1", 80)) {
                String banner = MeshFixture.banner(s);
                assertThat(banner).isNotNull();
                seen.merge(banner, 1, Integer::sum);
            }
        }
        assertThat(seen.keySet()).containsExactlyInAnyOrder("server-a", "server-b");
        // Only server-a (protocol HBONE) is reached through daemon B's inbound HBONE listener.
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(() -> assertThat(lines("connection complete").stream()
                                .filter(l -> "inbound".equals(l.get("direction")))
                                .count())
                        .isEqualTo((long) seen.getOrDefault("server-a", 0)));
        assertThat(lines("connection complete").stream().filter(l -> "inbound".equals(l.get("direction"))))
                .allSatisfy(l -> assertThat(l)
                        .containsEntry("dst.workload", "server-a")
                        .containsEntry("src.identity", "spiffe://cluster.local/ns/client/sa/client"));
    }

    @Test
    void accessLogLinesCarryEveryFieldForSuccessAndConnectFailureInPlainAndJson() throws Exception {
        MeshFixture mesh = startMesh(Map.of());
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a"); // 9 bytes with the newline
            s.getOutputStream().write("ping".getBytes());
            assertThat(new String(s.getInputStream().readNBytes(4))).isEqualTo("ping");
        }
        int closedPort = MeshFixture.freePort(); // nothing listens there: the server daemon's connect is refused
        try (Socket s = mesh.connect("127.0.0.3", closedPort)) {
            assertThat(MeshFixture.banner(s)).isNull();
        }

        String spiffeClient = "spiffe://cluster.local/ns/client/sa/client";
        String spiffeServer = "spiffe://cluster.local/ns/server/sa/server-a";
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(() -> assertThat(lines("connection complete"))
                        .anySatisfy(l -> assertThat(l)
                                .containsEntry("level", "INFO")
                                .containsEntry("direction", "inbound")
                                .containsEntry("src.identity", spiffeClient)
                                .containsEntry("dst.addr", "127.0.0.3:15008")
                                .containsEntry("dst.hbone_addr", "127.0.0.3:8080")
                                .containsEntry("dst.workload", "server-a")
                                .containsEntry("dst.namespace", "server")
                                .containsEntry("dst.identity", spiffeServer)
                                .containsEntry("bytes_sent", "13")
                                .containsEntry("bytes_recv", "4")
                                .containsKeys("src.addr", "duration")
                                .doesNotContainKey("error"))
                        .anySatisfy(l -> assertThat(l)
                                .containsEntry("level", "INFO")
                                .containsEntry("direction", "outbound")
                                .containsEntry("src.workload", "client")
                                .containsEntry("src.namespace", "client")
                                .containsEntry("src.identity", spiffeClient)
                                .containsEntry("src.cluster", "Kubernetes")
                                // Outbound HBONE: dst.addr is the tunnel's next hop, as upstream.
                                .containsEntry("dst.addr", "127.0.0.3:15008")
                                .containsEntry("dst.hbone_addr", "127.0.0.3:8080")
                                .containsEntry("dst.workload", "server-a")
                                .containsEntry("dst.identity", spiffeServer)
                                .containsEntry("bytes_sent", "4")
                                .containsEntry("bytes_recv", "13"))
                        .anySatisfy(l -> assertThat(l)
                                .containsEntry("level", "ERROR")
                                .containsEntry("direction", "outbound")
                                .containsEntry("dst.hbone_addr", "127.0.0.3:" + closedPort)
                                .containsEntry("error", "HBONE CONNECT rejected with status 503")
                                .containsEntry("bytes_sent", "0")
                                .containsEntry("bytes_recv", "0"))
                        .anySatisfy(l -> assertThat(l)
                                .containsEntry("level", "ERROR")
                                .containsEntry("direction", "inbound")
                                .containsEntry("dst.hbone_addr", "127.0.0.3:" + closedPort)
                                .hasEntrySatisfying("error", e -> assertThat(e).containsIgnoringCase("refused"))));

        // The same event as users read it: upstream's plain line (tabs, quoted text, bare addresses and numbers), or
        // one flat JSON object.
        ILoggingEvent success = logs.list.stream()
                .filter(e -> e.getFormattedMessage().equals("connection complete")
                        && e.getLevel() == Level.INFO
                        && e.getKeyValuePairs().stream().anyMatch(kv -> "inbound".equals(kv.value)))
                .findFirst()
                .orElseThrow();
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        String plain = new String(LogEncoder.create(context, false).encode(success), StandardCharsets.UTF_8);
        assertThat(plain)
                .matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z\tinfo\taccess\tconnection complete\t"
                        + "src\\.addr=[0-9.]+:\\d+ .*\n")
                .contains(" src.identity=\"" + spiffeClient
                        + "\" src.cluster=\"Kubernetes\" dst.addr=127.0.0.3:15008 dst.hbone_addr=127.0.0.3:8080 ")
                .contains(" dst.workload=\"server-a\" dst.namespace=\"server\" dst.identity=\"" + spiffeServer
                        + "\" dst.cluster=\"Kubernetes\" direction=\"inbound\" bytes_sent=13 bytes_recv=4 duration=\"");
        JsonNode json = new ObjectMapper()
                .readTree(new String(LogEncoder.create(context, true).encode(success), StandardCharsets.UTF_8));
        assertThat(json.get("level").asText()).isEqualTo("info");
        assertThat(json.get("scope").asText()).isEqualTo("access");
        assertThat(json.get("message").asText()).isEqualTo("connection complete");
        assertThat(json.get("dst.workload").asText()).isEqualTo("server-a");
        assertThat(json.get("bytes_sent").isNumber()).isTrue();
        assertThat(json.get("bytes_sent").asLong()).isEqualTo(13);
        assertThat(json.get("direction").asText()).isEqualTo("inbound");
        assertThat(json.get("src.identity").asText()).isEqualTo(spiffeClient);
    }

    @Test
    void denyPolicyRefusesTheConnectionAndTheLogNamesThePolicy() throws Exception {
        MeshFixture mesh = startMesh(Map.of());
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
        }
        mesh.write(MeshFixture.BASE + MeshFixture.DENY_CLIENT);
        await().atMost(Duration.ofSeconds(10))
                .until(() -> mesh.server.state().current().policies().size() == 1);
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isNull();
        }
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(() -> assertThat(lines("connection complete"))
                        .anySatisfy(
                                l -> assertThat(l)
                                        .containsEntry("direction", "inbound")
                                        .containsEntry("level", "ERROR")
                                        .containsEntry(
                                                "error",
                                                "connection closed due to policy rejection: explicitly denied by: server/deny-client"))
                        .anySatisfy(l -> assertThat(l)
                                .containsEntry("direction", "outbound")
                                .containsEntry("level", "ERROR")
                                .containsEntry("error", "HBONE CONNECT rejected with status 401")));
        String scrape = MeshFixture.get(MeshFixture.metrics(mesh.server), "/metrics");
        assertThat(scrape)
                .containsPattern("istio_tcp_connections_failed_total\\{reporter=\"destination\",[^}]*"
                        + "destination_workload=\"server-a\"[^}]*response_flags=\"DENY\"[^}]*} 1");
    }

    @Test
    void aPolicyChangeClosesALiveConnectionItNoLongerAllows() throws Exception {
        MeshFixture mesh = startMesh(Map.of());
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
            s.getOutputStream().write("ping".getBytes());
            assertThat(new String(s.getInputStream().readNBytes(4))).isEqualTo("ping");

            mesh.write(MeshFixture.BASE + MeshFixture.DENY_CLIENT);
            InputStream in = s.getInputStream();
            await().atMost(Duration.ofSeconds(10)).until(() -> {
                try {
                    return in.read() == -1;
                } catch (SocketException e) {
                    return true;
                }
            });
        }
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(
                        () -> assertThat(lines("connection complete"))
                                .anySatisfy(
                                        l -> assertThat(l)
                                                .containsEntry("direction", "inbound")
                                                .containsEntry("level", "ERROR")
                                                .containsEntry(
                                                        "error",
                                                        "connection closed due to policy change: explicitly denied by: server/deny-client")));
    }

    @Test
    void anEditTakesEffectWithoutRestartAndABrokenEditKeepsTheOldState() throws Exception {
        MeshFixture mesh = startMesh(Map.of());
        // Remove server-b's membership: every service connection now lands on server-a.
        String withoutB = MeshFixture.BASE.replace("""
                  workloadIps: ["127.0.0.5"]
                  protocol: TCP
                  services:
                    "server/echo.server.svc.cluster.local": {80: 8080}
                """, """
                  workloadIps: ["127.0.0.5"]
                  protocol: TCP
                  services: {}
                """);
        assertThat(withoutB).isNotEqualTo(MeshFixture.BASE);
        mesh.write(withoutB);
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            Workload b = mesh.client.state().current().workload("Kubernetes//Pod/server/server-b");
            return b != null && b.services().isEmpty();
        });
        for (int i = 0; i < 10; i++) {
            try (Socket s = mesh.connect("127.10.0.1", 80)) {
                assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
            }
        }

        mesh.write(withoutB + "\nworkloads: [not, valid");
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(lines("local config edit rejected; the previous config stays in force"))
                        .anySatisfy(l -> assertThat(l.get("error")).contains("line")));
        try (Socket s = mesh.connect("127.10.0.1", 80)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
        }
    }

    @Test
    void drainLetsAnInFlightTransferFinishAndRefusesNewConnections() throws Exception {
        MeshFixture mesh = startMesh(Map.of("CONNECTION_TERMINATION_DEADLINE", "20s"));
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
            CompletableFuture<Void> draining = CompletableFuture.runAsync(mesh.server::shutdown);
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> !mesh.server.readiness().isReady());
            // New connections to the draining daemon fail...
            try (Socket late = mesh.connect("127.0.0.3", 8080)) {
                assertThat(MeshFixture.banner(late)).isNull();
            }
            // ...while the one in flight keeps working until it ends.
            byte[] payload = new byte[1 << 20];
            new Random(5).nextBytes(payload);
            CompletableFuture<byte[]> echoed = CompletableFuture.supplyAsync(() -> {
                try {
                    return s.getInputStream().readNBytes(payload.length);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            s.getOutputStream().write(payload);
            assertThat(echoed.get()).isEqualTo(payload);
            s.shutdownOutput();
            assertThat(s.getInputStream().read()).isEqualTo(-1);
            // The connection ended by the client's half-close, so the drain is idle and the daemon stops well before
            // the 20 s deadline would have closed the connection for it (a generous bound, not a timing figure).
            draining.get(10, TimeUnit.SECONDS);
            assertThat(lines("drain deadline reached; closing")).isEmpty();
            assertThat(mesh.server.awaitStopped(Duration.ofSeconds(5))).isTrue();
        }
    }

    @Test
    void aConnectionStillOpenAtTheDrainDeadlineIsClosedWithUpstreamsError() throws Exception {
        MeshFixture mesh = startMesh(Map.of("CONNECTION_TERMINATION_DEADLINE", "1s"));
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
            mesh.server.shutdown();
            assertThat(lines("drain deadline reached; closing")).hasSize(1);
            // The inbound connection the deadline cut: an ERROR access line with upstream's wording.
            await().atMost(Duration.ofSeconds(5))
                    .untilAsserted(() -> assertThat(lines("connection complete"))
                            .anySatisfy(l -> assertThat(l)
                                    .containsEntry("level", "ERROR")
                                    .containsEntry("direction", "inbound")
                                    .containsEntry("error", "connection closed due to connection drain")));
        }
    }
}
