package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.Env;
import io.ztunnel.core.identity.LocalCa;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.TestCrls;
import io.ztunnel.core.identity.TestPki;
import io.ztunnel.core.testing.TestApps;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.http.MetaData;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Double HBONE end to end on loopback, with two networks: the client daemon (127.0.0.2) is on network {@code net-a};
 * service {@code echo.server} has its only endpoint, server-a (127.0.0.3, its own daemon), on {@code net-b}, behind
 * the network gateway at 127.0.0.7:15008. The gateway is {@link JettyNetworkGateway} (Jetty's HTTP/2 and the JDK's
 * TLS, none of the daemon's code): it terminates the outer CONNECT and forwards the inner stream's bytes to server-a's
 * daemon on 127.0.0.3:15008, from its own IP. The client reaches the service through its daemon's SOCKS5 listener.
 */
@Timeout(120)
class DoubleHboneMeshTest {
    private static final SpiffeId CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/client/sa/client");
    private static final SpiffeId SERVER = SpiffeId.parse("spiffe://cluster.local/ns/server/sa/server-a");
    private static final SpiffeId GATEWAY = SpiffeId.parse("spiffe://cluster.local/ns/istio-system/sa/gateway");
    private static final String AUTHORITY = "echo.server.svc.cluster.local:80";
    private static final InetSocketAddress GATEWAY_ADDRESS = new InetSocketAddress("127.0.0.7", 15008);
    private static final InetSocketAddress SERVER_HBONE = new InetSocketAddress("127.0.0.3", 15008);

    private static final String MESH = """
            workloads:
            - uid: Kubernetes//Pod/client/client
              name: client
              namespace: client
              serviceAccount: client
              trustDomain: cluster.local
              workloadIps: ["127.0.0.2"]
              network: net-a
              protocol: HBONE
              services: {}
            - uid: Kubernetes//Pod/server/server-a
              name: server-a
              namespace: server
              serviceAccount: server-a
              trustDomain: cluster.local
              workloadIps: ["127.0.0.3"]
              network: net-b
              protocol: HBONE
              canonicalName: echo
              canonicalRevision: v1
              networkGateway: {destination: "net-b/127.0.0.7", hboneMtlsPort: 15008}
              services:
                "server/echo.server.svc.cluster.local": {80: 8080}
            - uid: Kubernetes//Pod/istio-system/gateway
              name: gateway
              namespace: istio-system
              serviceAccount: gateway
              trustDomain: cluster.local
              workloadIps: ["127.0.0.7"]
              network: net-b
              protocol: HBONE
              services: {}
            services:
            - name: echo
              namespace: server
              hostname: echo.server.svc.cluster.local
              vips: ["net-a/127.10.0.1"]
              ports: {80: 8080}
              subjectAltNames: ["spiffe://cluster.local/ns/server/sa/server-a"]
            """;

    @TempDir
    Path dir;

    private Path configFile;
    private TestApps.Server app;
    private @Nullable JettyNetworkGateway gateway;
    private @Nullable Daemon client;
    private @Nullable Daemon server;
    private int socksPort;
    private final ListAppender<ILoggingEvent> logs = new ListAppender<>();

    @BeforeEach
    void setUp() throws Exception {
        logs.start();
        ((Logger) LoggerFactory.getLogger("access")).addAppender(logs);
        configFile = dir.resolve("mesh.yaml");
        write(MESH);
        app = MeshFixture.banner("server-a", new InetSocketAddress("127.0.0.3", 8080));
        socksPort = MeshFixture.freePort();
    }

    /**
     * Starts both daemons on the CA in {@code dir/ca} (created when absent) and the gateway, with a certificate from
     * {@code gatewayCa} for {@code gatewayIdentity}, forwarding to {@code gatewayTarget}.
     */
    private void start(
            Map<String, String> clientExtra, Path gatewayCa, SpiffeId gatewayIdentity, InetSocketAddress gatewayTarget)
            throws Exception {
        LocalCa meshCa = LocalCa.loadOrCreate(dir.resolve("ca"), Clock.systemUTC()); // the daemons load the same CA
        Map<String, String> clientEnv = new HashMap<>(clientExtra);
        clientEnv.put("NETWORK", "net-a");
        clientEnv.put("UNSTABLE_ENABLE_SOCKS5", "true");
        clientEnv.put("SOCKS5_PORT", String.valueOf(socksPort));
        client = Daemon.start(config("client/client/client", "127.0.0.2", clientEnv));
        server = Daemon.start(config("server/server-a/server-a", "127.0.0.3", serverEnv));
        LocalCa issuer =
                gatewayCa.equals(dir.resolve("ca")) ? meshCa : LocalCa.loadOrCreate(gatewayCa, Clock.systemUTC());
        gateway = new JettyNetworkGateway(
                GATEWAY_ADDRESS, TestPki.issue(issuer, gatewayIdentity, Duration.ofHours(1)), gatewayTarget);
    }

    /** Environment of the server daemon (its own local config file may be set here). */
    private final Map<String, String> serverEnv = new HashMap<>(Map.of("NETWORK", "net-b"));

    private void start(SpiffeId gatewayIdentity, InetSocketAddress gatewayTarget) throws Exception {
        start(Map.of(), dir.resolve("ca"), gatewayIdentity, gatewayTarget);
    }

    @AfterEach
    void tearDown() throws Exception {
        ((Logger) LoggerFactory.getLogger("access")).detachAppender(logs);
        for (AutoCloseable c : new AutoCloseable[] {client, server, gateway, app}) {
            if (c != null) {
                c.close();
            }
        }
    }

    @Test
    void serviceOnlyInTheOtherNetworkIsReachedThroughItsGatewayWithBytesIntactBothWays() throws Exception {
        start(GATEWAY, SERVER_HBONE);
        byte[] payload = new byte[4 * 1024 * 1024];
        new SplittableRandom(15).nextBytes(payload);
        try (Socket s = connect()) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
            CompletableFuture<byte[]> echoed = CompletableFuture.supplyAsync(() -> {
                try {
                    return readAll(s.getInputStream());
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            s.getOutputStream().write(payload);
            s.shutdownOutput(); // the app answers EOF with EOF once it echoed everything: half-close both ways
            byte[] back = echoed.get(60, TimeUnit.SECONDS);
            assertThat(back.length).isEqualTo(payload.length);
            assertThat(sha256(back)).isEqualTo(sha256(payload));
        }

        // The gateway saw one outer CONNECT from the client's identity, with the service authority.
        assertThat(requireGateway().clientIdentities).containsExactly(CLIENT.toString());
        MetaData.Request outer =
                Objects.requireNonNull(requireGateway().connects.peek());
        assertThat(outer.getMethod()).isEqualTo("CONNECT");
        assertThat(outer.getHttpURI().getAuthority()).isEqualTo(AUTHORITY);
        assertThat(outer.getHttpFields().get("forwarded")).contains("host=echo.server.svc.cluster.local");
        assertThat(outer.getHttpFields().get("x-forwarded-network")).isNull();

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            List<Map<String, String>> done = LogEvents.withMessage(logs.list, "connection complete");
            // The client side: to the gateway, the far end verified as the service's SAN, its labels from baggage.
            assertThat(done)
                    .anySatisfy(l -> assertThat(l)
                            .containsEntry("direction", "outbound")
                            .containsEntry("level", "INFO")
                            .containsEntry("dst.addr", "127.0.0.7:15008")
                            .containsEntry("dst.hbone_addr", AUTHORITY)
                            .containsEntry("dst.service", "echo.server.svc.cluster.local")
                            .containsEntry("dst.workload", "server-a")
                            .containsEntry("dst.namespace", "server")
                            .containsEntry("dst.identity", SERVER.toString())
                            .containsEntry("src.identity", CLIENT.toString())
                            .containsEntry("bytes_sent", String.valueOf(payload.length)));
            // The server side: from the gateway's IP, with the client's identity from the inner TLS, and the source
            // taken from the client's baggage (x-forwarded-network said it came from net-a), not from the peer IP,
            // which is the gateway's workload.
            assertThat(done)
                    .anySatisfy(l -> assertThat(l)
                            .containsEntry("direction", "inbound")
                            .containsEntry("level", "INFO")
                            .containsEntry("dst.hbone_addr", AUTHORITY)
                            .containsEntry("src.identity", CLIENT.toString())
                            .containsEntry("src.namespace", "client")
                            .hasEntrySatisfying("src.addr", a -> assertThat(a).startsWith("127.0.0.7:")));
        });
    }

    @Test
    void clientSideMetricsTakeTheDestinationFromTheFarEndsBaggageAndIdentity() throws Exception {
        start(GATEWAY, SERVER_HBONE);
        try (Socket s = connect()) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
        }
        InetSocketAddress metrics = Objects.requireNonNull(daemon(client).metricsAddress());
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(
                        () -> assertThat(MeshFixture.get(metrics, "/metrics").lines())
                                .anySatisfy(line -> assertThat(line)
                                        .startsWith("istio_tcp_connections_closed_total{reporter=\"source\"")
                                        .contains("destination_workload=\"server-a\"")
                                        .contains("destination_workload_namespace=\"server\"")
                                        .contains("destination_principal=\"" + SERVER + "\"")
                                        .contains("destination_service=\"echo.server.svc.cluster.local\"")
                                        .contains("connection_security_policy=\"mutual_tls\"")));
    }

    @Test
    void gatewayThatLoopsBackToTheClientsOwnZtunnelFailsTheInnerIdentityCheck() throws Exception {
        start(GATEWAY, new InetSocketAddress("127.0.0.2", 15008));
        try (Socket s = connect()) {
            assertThat(MeshFixture.banner(s)).isNull();
        }
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(() -> assertThat(LogEvents.withMessage(logs.list, "connection complete"))
                        .anySatisfy(l -> assertThat(l)
                                .containsEntry("direction", "outbound")
                                .containsEntry("level", "ERROR")
                                .hasEntrySatisfying(
                                        "error",
                                        e -> assertThat(e)
                                                .contains("inner HBONE")
                                                .contains("presented [" + CLIENT + "]"))));
    }

    @Test
    void policyIsAppliedAtTheFinalDestinationToTheInnerIdentityAndTheGatewayIp() throws Exception {
        start(GATEWAY, SERVER_HBONE);
        try (Socket s = connect()) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
        }
        for (String match : List.of(
                "principals: [{Exact: \"cluster.local/ns/client/sa/client\"}]", "sourceIps: [\"127.0.0.7/32\"]")) {
            write(MESH + """
                    policies:
                    - name: deny-it
                      namespace: server
                      scope: Namespace
                      action: Deny
                      dryRun: false
                      rules: [[[{%s}]]]
                    """.formatted(match));
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> daemon(server).state().current().policies().size() == 1
                            && daemon(server)
                                    .state()
                                    .current()
                                    .policies()
                                    .getFirst()
                                    .toString()
                                    .contains(match.contains("sourceIps") ? "127.0.0.7" : "client"));
            try (Socket s = connect()) {
                assertThat(MeshFixture.banner(s)).as(match).isNull();
            }
            write(MESH);
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> daemon(server).state().current().policies().isEmpty());
        }
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(() -> assertThat(LogEvents.withMessage(logs.list, "connection complete"))
                        .anySatisfy(l -> assertThat(l)
                                .containsEntry("direction", "inbound")
                                .containsEntry("level", "ERROR")
                                .hasEntrySatisfying("error", e -> assertThat(e).contains("policy"))));
    }

    @Test
    void gatewayPresentingAnotherIdentityIsRefusedAndNothingReachesTheServer() throws Exception {
        start(SpiffeId.parse("spiffe://cluster.local/ns/istio-system/sa/impostor"), SERVER_HBONE);
        try (Socket s = connect()) {
            assertThat(MeshFixture.banner(s)).isNull();
        }
        assertThat(requireGateway().connects).isEmpty();
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(() -> assertThat(LogEvents.withMessage(logs.list, "connection complete"))
                        .anySatisfy(l -> assertThat(l)
                                .containsEntry("direction", "outbound")
                                .containsEntry("level", "ERROR")
                                .containsEntry("dst.addr", "127.0.0.7:15008")
                                .hasEntrySatisfying("error", e -> assertThat(e).contains("impostor"))));
        assertThat(LogEvents.withMessage(logs.list, "connection complete"))
                .noneSatisfy(l -> assertThat(l).containsEntry("direction", "inbound"));
    }

    @Test
    void farEndPresentingAnIdentityOutsideTheServiceSansIsRefused() throws Exception {
        start(GATEWAY, SERVER_HBONE);
        write(MESH.replace(
                "subjectAltNames: [\"spiffe://cluster.local/ns/server/sa/server-a\"]",
                "subjectAltNames: [\"spiffe://cluster.local/ns/server/sa/someone-else\"]"));
        await().atMost(Duration.ofSeconds(10))
                .until(() -> daemon(client).state().current().services().stream()
                        .anyMatch(svc -> svc.subjectAltNames().toString().contains("someone-else")));
        try (Socket s = connect()) {
            assertThat(MeshFixture.banner(s)).isNull();
        }
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(() -> assertThat(LogEvents.withMessage(logs.list, "connection complete"))
                        .anySatisfy(l -> assertThat(l)
                                .containsEntry("direction", "outbound")
                                .containsEntry("level", "ERROR")
                                .hasEntrySatisfying(
                                        "error",
                                        e -> assertThat(e)
                                                .contains("inner HBONE")
                                                .contains("server-a"))));
    }

    @Test
    void theServerHalfClosingFirstLeavesTheClientsDirectionOpenThroughBothLayers() throws Exception {
        CompletableFuture<String> received = new CompletableFuture<>();
        byte[] greeting = new byte[1024 * 1024];
        new SplittableRandom(3).nextBytes(greeting);
        try (TestApps.Server early = new TestApps.Server(new InetSocketAddress("127.0.0.3", 8081), sock -> {
            try (sock) {
                sock.getOutputStream().write(greeting);
                sock.shutdownOutput(); // done talking, still listening
                received.complete(sha256(readAll(sock.getInputStream())));
            } catch (Exception e) {
                received.completeExceptionally(e);
            }
        })) {
            write(MESH.replace("ports: {80: 8080}", "ports: {80: 8080, 81: 8081}"));
            start(GATEWAY, SERVER_HBONE);
            byte[] payload = new byte[2 * 1024 * 1024];
            new SplittableRandom(4).nextBytes(payload);
            try (Socket s = new Socket(new Proxy(Proxy.Type.SOCKS, new InetSocketAddress("127.0.0.2", socksPort)))) {
                s.setSoTimeout(30_000);
                s.connect(new InetSocketAddress("127.10.0.1", 81), 10_000);
                assertThat(sha256(readAll(s.getInputStream()))).isEqualTo(sha256(greeting)); // EOF arrived
                s.getOutputStream().write(payload); // our direction still works after theirs ended
                s.shutdownOutput();
                assertThat(received.get(30, TimeUnit.SECONDS)).isEqualTo(sha256(payload));
            }
        }
    }

    @Test
    void innerAuthorityTheFarEndCannotResolveIsA503ForThatConnectionOnly() throws Exception {
        // The far network knows the service under another name: the client's authority resolves to nothing there.
        Path serverConfig = dir.resolve("server-mesh.yaml");
        write(serverConfig, MESH.replace("hostname: echo.server", "hostname: other.server"));
        serverEnv.put("LOCAL_XDS_PATH", serverConfig.toString());
        start(GATEWAY, SERVER_HBONE);
        try (Socket s = connect()) {
            assertThat(MeshFixture.banner(s)).isNull();
        }
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
            assertThat(LogEvents.withMessage(logs.list, "connection complete"))
                    .anySatisfy(l -> assertThat(l)
                            .containsEntry("direction", "outbound")
                            .containsEntry("level", "ERROR")
                            .hasEntrySatisfying(
                                    "error",
                                    e -> assertThat(e).contains("inner HBONE").contains("503")));
            assertThat(LogEvents.withMessage(logs.list, "connection failed"))
                    .anySatisfy(l -> assertThat(l)
                            .containsEntry("direction", "inbound")
                            .hasEntrySatisfying("error", e -> assertThat(e).contains("echo.server.svc.cluster.local")));
        });
        // The pooled outer connection to the gateway is unaffected: the next connection, once the far network
        // knows the name, goes through.
        write(serverConfig, MESH);
        await().atMost(Duration.ofSeconds(10))
                .until(() -> daemon(server).state().current().services().stream()
                        .anyMatch(svc -> svc.hostname().equals("echo.server.svc.cluster.local")));
        try (Socket s = connect()) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
        }
    }

    @Test
    void aGatewayMissingFromTheStateIsAnEarlyDenialOfThatConnection() throws Exception {
        write(MESH.replace("destination: \"net-b/127.0.0.7\"", "destination: \"net-b/127.0.0.8\""));
        start(GATEWAY, SERVER_HBONE);
        try (Socket s = connect()) {
            assertThat(MeshFixture.banner(s)).isNull();
        }
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(() -> assertThat(LogEvents.withMessage(logs.list, "connection failed"))
                        .anySatisfy(l -> assertThat(l)
                                .containsEntry("direction", "outbound")
                                .containsEntry("level", "WARN")
                                .hasEntrySatisfying(
                                        "error",
                                        e -> assertThat(e).startsWith("unknown network gateway net-b/127.0.0.8"))));
        assertThat(requireGateway().connects).isEmpty();
    }

    @Test
    void withoutResponseBaggageNeitherEndLabelsThePeerItCannotSee() throws Exception {
        serverEnv.put("ENABLE_RESPONSE_BAGGAGE", "false");
        start(GATEWAY, SERVER_HBONE);
        try (Socket s = connect()) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
        }
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            List<Map<String, String>> done = LogEvents.withMessage(logs.list, "connection complete");
            // The server ignores the client's baggage (the client is behind a gateway) and sends none back.
            assertThat(done)
                    .anySatisfy(l -> assertThat(l)
                            .containsEntry("direction", "inbound")
                            .containsEntry("src.identity", CLIENT.toString())
                            .doesNotContainKeys("src.workload", "src.namespace"));
            assertThat(done)
                    .anySatisfy(l -> assertThat(l)
                            .containsEntry("direction", "outbound")
                            .containsEntry("dst.identity", SERVER.toString())
                            .doesNotContainKeys("dst.workload", "dst.namespace"));
        });
    }

    @Test
    void aCrlRevokingTheFarEndClosesTheLiveInnerConnectionWhileTheGatewayStaysTrusted() throws Exception {
        // The mesh CA and the gateway's CA are two intermediates under one root; the client's CRL revokes the mesh's
        // intermediate only, so the outer layer (the gateway) stays valid and the inner one (server-a) is revoked.
        TestPki.Ca root = TestPki.root("CN=test root", TestPki.rsa());
        TestPki.Ca meshCa = TestPki.intermediate("CN=mesh intermediate", TestPki.rsa(), root);
        TestPki.Ca gatewayCa = TestPki.intermediate("CN=gateway intermediate", TestPki.rsa(), root);
        TestPki.writePluginCa(
                dir.resolve("ca"),
                meshCa,
                new X509Certificate[] {meshCa.certificate(), root.certificate()},
                root.certificate());
        TestPki.writePluginCa(
                dir.resolve("gateway-ca"),
                gatewayCa,
                new X509Certificate[] {gatewayCa.certificate(), root.certificate()},
                root.certificate());
        Files.createDirectories(dir.resolve("crl"));
        Path crl = dir.resolve("crl").resolve("ca-crl.pem");
        TestCrls.write(crl, TestCrls.pem(TestCrls.der(root)));
        start(Map.of("CRL_PATH", crl.toString()), dir.resolve("gateway-ca"), GATEWAY, SERVER_HBONE);

        try (Socket s = connect()) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
            TestCrls.write(
                    crl, TestCrls.pem(TestCrls.der(root, meshCa.certificate().getSerialNumber())));
            assertThat(s.getInputStream().read()).isEqualTo(-1); // the reload closes the inner connection
        }
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(LogEvents.withMessage(logs.list, "connection complete"))
                        .anySatisfy(l -> assertThat(l)
                                .containsEntry("direction", "outbound")
                                .containsEntry("dst.addr", "127.0.0.7:15008")
                                .containsEntry("error", "connection closed: peer certificate revoked by CRL")));
        // A new connection: the gateway is still fine, the far end's handshake is refused.
        try (Socket s = connect()) {
            assertThat(MeshFixture.banner(s)).isNull();
        }
        InetSocketAddress metrics = Objects.requireNonNull(daemon(client).metricsAddress());
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(MeshFixture.get(metrics, "/metrics"))
                        // the live connection (labelled from the far end's baggage) and the refused one (labelled
                        // with the gateway, the far end never answered)
                        .containsPattern("istio_tcp_connections_failed_total\\{reporter=\"source\",[^}]*"
                                + "destination_workload=\"server-a\"[^}]*response_flags=\"CERT_REVOKED\"[^}]*} 1")
                        .containsPattern("istio_tcp_connections_failed_total\\{reporter=\"source\",[^}]*"
                                + "destination_workload=\"gateway\"[^}]*response_flags=\"CERT_REVOKED\"[^}]*} 1"));
        assertThat(requireGateway().clientIdentities).hasSize(1); // one pooled outer connection served both
    }

    private static Daemon daemon(@Nullable Daemon d) {
        return Objects.requireNonNull(d, "daemons not started");
    }

    private JettyNetworkGateway requireGateway() {
        return Objects.requireNonNull(gateway);
    }

    private Socket connect() throws Exception {
        Socket s = new Socket(new Proxy(Proxy.Type.SOCKS, new InetSocketAddress("127.0.0.2", socksPort)));
        s.setSoTimeout(30_000);
        s.connect(new InetSocketAddress("127.10.0.1", 80), 10_000);
        return s;
    }

    private Config config(String workload, String ip, Map<String, String> extra) {
        Map<String, String> env = new HashMap<>();
        env.put("PROXY_MODE", "dedicated");
        env.put("PROXY_WORKLOAD_INFO", workload);
        env.put("PROXY_BIND_ADDRESS", ip);
        env.put("LOCAL_XDS_PATH", configFile.toString()); // extra may name another file
        env.put("XDS_ADDRESS", "");
        env.put("CA_ADDRESS", "");
        env.put("LOCAL_CA_DIR", dir.resolve("ca").toString());
        env.put("ADMIN_PORT", "0");
        env.put("STATS_PORT", "0");
        env.put("READINESS_PORT", "0");
        env.put("ZTUNNEL_WORKER_THREADS", "1");
        env.putAll(extra);
        return Config.from(new Env(env));
    }

    private void write(String yaml) throws Exception {
        write(configFile, yaml);
    }

    /** Replaces {@code file} atomically, as a watched config file should be. */
    private void write(Path file, String yaml) throws Exception {
        Path tmp = Files.createTempFile(dir, ".mesh", ".yaml");
        Files.writeString(tmp, yaml);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static byte[] readAll(InputStream in) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        in.transferTo(out);
        return out.toByteArray();
    }

    private static String sha256(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }
}
