package io.ztunnel.core.inpod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ztunnel.cni.testing.RequiresNetns;
import io.ztunnel.core.demo.LocalMesh;
import io.ztunnel.core.demo.Shell;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * The whole product on real network namespaces: two nodes, pods in enrolled and plain namespaces, a node agent and
 * a ztunnel daemon per node (separate processes), the in-pod redirection rules programmed by the agent, ZDS between
 * them. Every case asserts what the applications see. Apps are plain sockets created inside the pods' namespaces;
 * the server apps answer "<pod> <client ip>" then echo.
 */
@RequiresNetns(tools = {"iptables", "nsenter"})
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(240)
class InpodMeshNetnsTest {
    private static final Map<String, String> AMBIENT = Map.of(LocalMesh.DATAPLANE_MODE, "ambient");

    private Path dir;

    private LocalMesh mesh;
    private final ExecutorService apps = Executors.newVirtualThreadPerTaskExecutor();
    private final List<ServerSocket> listeners = new CopyOnWriteArrayList<>();

    @BeforeAll
    void startMesh() throws Exception {
        dir = Files.createTempDirectory("inpod-mesh");
        mesh = LocalMesh.start(
                dir,
                List.of("node1", "node2"),
                List.of(
                        new LocalMesh.PodSpec("client", "apps", "client", "node1", 2, Map.of()),
                        new LocalMesh.PodSpec("server1", "apps", "server", "node1", 3, Map.of("app", "web")),
                        new LocalMesh.PodSpec("outsider", "legacy", "default", "node1", 4, Map.of()),
                        new LocalMesh.PodSpec("server2", "apps", "server", "node2", 2, Map.of("app", "web")),
                        new LocalMesh.PodSpec("external", "legacy", "default", "node2", 3, Map.of())),
                Map.of("apps", AMBIENT, "legacy", Map.of()),
                List.of(new LocalMesh.ServiceSpec("web", "apps", 1, 80, 8080, List.of("server1", "server2"))),
                // Inbound debug lines on: the span test reads one.
                Map.of("RUST_LOG", "info,ztunnel::proxy::inbound=debug"),
                List.of("-Xmx192m", "-XX:+UseSerialGC", "-Dio.netty.leakDetection.level=paranoid"));
        for (String pod : List.of("server1", "server2", "external")) {
            serve(pod);
        }
    }

    @AfterAll
    void stopMesh() throws Exception {
        listeners.forEach(l -> {
            try {
                l.close();
            } catch (IOException ignored) {
                // closing
            }
        });
        apps.shutdownNow();
        String logs = mesh == null ? "" : mesh.logs();
        if (mesh != null) {
            mesh.close();
        }
        assertThat(logs).as("no Netty buffer leak in the daemons or agents").doesNotContain("LEAK:");
    }

    /** A server app in {@code pod} on port 8080: writes "<pod> <client ip>\n", then echoes. */
    private void serve(String pod) throws IOException {
        ServerSocket listener = mesh.listen(pod, 8080);
        listeners.add(listener);
        apps.submit(() -> {
            while (!listener.isClosed()) {
                Socket s = listener.accept();
                apps.submit(() -> {
                    try (s) {
                        s.getOutputStream()
                                .write((pod + " " + s.getInetAddress().getHostAddress() + "\n")
                                        .getBytes(StandardCharsets.US_ASCII));
                        InputStream in = s.getInputStream();
                        byte[] buf = new byte[16384];
                        int n;
                        while ((n = in.read(buf)) >= 0) {
                            s.getOutputStream().write(buf, 0, n);
                        }
                    } catch (IOException ignored) {
                        // client went away
                    }
                    return null;
                });
            }
            return null;
        });
    }

    /** A client socket created inside {@code pod}'s namespace, connected to ip:port. */
    private Socket connect(String pod, String ip, int port) throws IOException {
        return mesh.netns(pod).call(() -> {
            Socket s = new Socket();
            s.connect(new InetSocketAddress(ip, port), 10_000);
            s.setSoTimeout(10_000);
            return s;
        });
    }

    /** The first line the server sent, or null if the connection ended first. */
    private static @Nullable String line(Socket s) throws IOException {
        StringBuilder sb = new StringBuilder();
        int c;
        while ((c = s.getInputStream().read()) >= 0 && c != '\n') {
            sb.append((char) c);
        }
        return c < 0 && sb.isEmpty() ? null : sb.toString();
    }

    private @Nullable String banner(String from, String ip, int port) throws IOException {
        try (Socket s = connect(from, ip, port)) {
            return line(s);
        } catch (SocketException e) {
            return null; // reset: refused like a close
        }
    }

    /** Waits until tcpdump says it is capturing (its "listening on" line), reading its merged output. */
    private static void awaitListening(Process tcpdump) throws Exception {
        CompletableFuture<Boolean> listening = CompletableFuture.supplyAsync(() -> {
            // Not closed here: tcpdump still writes its summary to this pipe when it is stopped.
            BufferedReader out = tcpdump.inputReader(StandardCharsets.UTF_8);
            try {
                String l;
                while ((l = out.readLine()) != null) {
                    if (l.contains("listening on")) {
                        return true;
                    }
                }
                return false;
            } catch (IOException e) {
                return false;
            }
        });
        assertThat(listening.get(10, TimeUnit.SECONDS))
                .as("tcpdump started capturing")
                .isTrue();
    }

    private String ip(String pod) {
        return mesh.pod(pod).ip();
    }

    /** The node's {@code /config_dump} parsed ({@link LocalMesh#http} answers the whole response, headers first). */
    private JsonNode configDump(String node) throws IOException {
        String response = mesh.http(node, 15000, "/config_dump");
        int body = response.indexOf("\r\n\r\n");
        assertThat(response).as("config_dump answer").startsWith("HTTP/1.1 200");
        return new ObjectMapper().readTree(response.substring(body + 4));
    }

    private void awaitPolicies(int count) {
        await().atMost(Duration.ofSeconds(15)).untilAsserted(() -> {
            for (String node : List.of("node1", "node2")) {
                JsonNode dump = configDump(node);
                assertThat(dump.get("policies")).hasSize(count);
            }
        });
    }

    @Test
    @Order(1)
    void capturedClientReachesServersOnBothNodesOverHboneAndTheServerSeesTheClientIp() throws Exception {
        assertThat(banner("client", ip("server2"), 8080)).isEqualTo("server2 " + ip("client"));
        assertThat(banner("client", ip("server1"), 8080)).isEqualTo("server1 " + ip("client"));
        try (Socket s = connect("client", ip("server2"), 8080)) {
            assertThat(line(s)).isEqualTo("server2 " + ip("client"));
            String live = mesh.http("node2", 15000, "/debug/connections");
            assertThat(live)
                    .contains("\"direction\" : \"inbound\"")
                    .contains("\"srcIdentity\" : \"spiffe://cluster.local/ns/apps/sa/client\"")
                    .contains("\"dstIdentity\" : \"spiffe://cluster.local/ns/apps/sa/server\"");
        }
    }

    @Test
    @Order(2)
    void betweenNodesTheBytesAreEncrypted() throws Exception {
        Path capture = dir.resolve("node2.pcap");
        String node2 = mesh.nodeNetns("node2");
        Process tcpdump = new ProcessBuilder(
                        "ip", "netns", "exec", node2, "tcpdump", "-i", "eth0", "-U", "-w", capture.toString(), "tcp")
                .redirectErrorStream(true)
                .start();
        try {
            awaitListening(tcpdump);
            String secret = "TOP-SECRET-PAYLOAD-0123456789";
            for (String target : List.of("server2", "external")) {
                try (Socket s = connect("client", ip(target), 8080)) {
                    line(s);
                    s.getOutputStream().write((secret + "-" + target).getBytes(StandardCharsets.US_ASCII));
                    s.shutdownOutput();
                    s.getInputStream().readAllBytes();
                }
            }
            // tcpdump -U writes each packet as it is captured and the external connection ran after the mesh one,
            // so once its plaintext is in the file the mesh connection's packets are too.
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> new String(Files.readAllBytes(capture), StandardCharsets.ISO_8859_1)
                            .contains(secret + "-external"));
        } finally {
            tcpdump.destroy();
            tcpdump.waitFor(5, TimeUnit.SECONDS);
        }
        String wire = new String(Files.readAllBytes(capture), StandardCharsets.ISO_8859_1);
        assertThat(wire)
                .as("plaintext to the uncaptured pod is visible: the capture works")
                .contains("TOP-SECRET-PAYLOAD-0123456789-external");
        assertThat(wire).as("the mesh connection between nodes is TLS").doesNotContain("-server2");
    }

    @Test
    @Order(3)
    void uncapturedClientReachesACapturedServerInPlaintextAndPoliciesApplyWithoutIdentity() throws Exception {
        assertThat(banner("outsider", ip("server2"), 8080)).isEqualTo("server2 " + ip("outsider"));
        mesh.setPolicies("""
                - name: no-outsider
                  namespace: apps
                  scope: Namespace
                  action: Deny
                  dryRun: false
                  rules: [[[{sourceIps: ["%s/32"]}]]]
                """.formatted(ip("outsider")));
        awaitPolicies(1);
        assertThat(banner("outsider", ip("server2"), 8080)).isNull();
        assertThat(banner("client", ip("server2"), 8080)).isEqualTo("server2 " + ip("client"));
        mesh.setPolicies("");
        awaitPolicies(0);
    }

    @Test
    @Order(4)
    void capturedClientReachesAnUncapturedDestinationByPassthrough() throws Exception {
        assertThat(banner("client", ip("external"), 8080)).isEqualTo("external " + ip("client"));
    }

    @Test
    @Order(5)
    void serviceVipIsBalancedAcrossNodes() throws Exception {
        Map<String, Integer> seen = new HashMap<>();
        for (int i = 0; i < 30; i++) {
            String b = banner("client", mesh.vip(1), 80);
            assertThat(b).isNotNull().endsWith(" " + ip("client"));
            seen.merge(b.split(" ")[0], 1, Integer::sum);
        }
        assertThat(seen.keySet()).containsExactlyInAnyOrder("server1", "server2");
    }

    @Test
    @Order(6)
    void aDenyPolicyRefusesTheMeshConnection() throws Exception {
        mesh.setPolicies("""
                - name: deny-client
                  namespace: apps
                  scope: Namespace
                  action: Deny
                  dryRun: false
                  rules: [[[{principals: [{Exact: "cluster.local/ns/apps/sa/client"}]}]]]
                """);
        awaitPolicies(1);
        assertThat(banner("client", ip("server2"), 8080)).isNull();
        assertThat(mesh.http("node2", 15020, "/metrics"))
                .containsPattern(
                        "istio_tcp_connections_failed_total\\{reporter=\"destination\",[^}]*response_flags=\"DENY\"");
        mesh.setPolicies("");
        awaitPolicies(0);
        assertThat(banner("client", ip("server2"), 8080)).isEqualTo("server2 " + ip("client"));
    }

    @Test
    @Order(7)
    void appsCannotLoopThroughTheProxyPorts() throws Exception {
        for (int port : List.of(15001, 15006)) {
            assertThat(banner("client", "127.0.0.1", port))
                    .as("127.0.0.1:" + port)
                    .isNull();
        }
        assertThat(banner("client", ip("client"), 15006)).as("own IP :15006").isNull();
        try (Socket s = connect("client", ip("server2"), 15008)) {
            s.getOutputStream().write("GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(s.getInputStream().read())
                    .as("plaintext to a peer's HBONE port")
                    .isEqualTo(-1);
        } catch (SocketException expected) {
            // reset is also a refusal
        }
    }

    @Test
    @Order(8)
    void unEnrollingANamespaceRemovesTheRulesAndTrafficFlowsDirectly() throws Exception {
        mesh.setNamespaceLabels("apps", Map.of());
        // The agent releases the pods one by one: wait for both ends, not only the client (the server's
        // inbound capture outliving the client's rules made this flaky).
        await().atMost(Duration.ofSeconds(20)).until(() -> !captured("client") && !captured("server2"));
        // No proxy in the way: the server sees the client directly, and node2's daemon sees nothing.
        try (Socket s = connect("client", ip("server2"), 8080)) {
            assertThat(line(s)).isEqualTo("server2 " + ip("client"));
            assertThat(mesh.http("node2", 15000, "/debug/connections")).doesNotContain("\"inbound\"");
        }
        mesh.setNamespaceLabels("apps", AMBIENT);
        await().atMost(Duration.ofSeconds(30)).until(() -> captured("client") && captured("server2"));
        mesh.awaitReady("node1", Duration.ofSeconds(30));
        mesh.awaitReady("node2", Duration.ofSeconds(30));
        await().atMost(Duration.ofSeconds(20))
                .until(() -> ("server2 " + ip("client")).equals(banner("client", ip("server2"), 8080)));
    }

    @Test
    @Order(9)
    void aRestartedDaemonResyncsFromTheSnapshotWithoutDuplicates() throws Exception {
        mesh.stopDaemon("node1");
        mesh.startDaemon("node1");
        mesh.awaitReady("node1", Duration.ofSeconds(60));
        JsonNode state = configDump("node1").get("workloadState");
        List<String> up = new ArrayList<>();
        state.properties().forEach(e -> {
            if (e.getValue().get("state").asText().equals("Up")) {
                up.add(e.getKey());
            }
        });
        assertThat(up).hasSize(2); // client and server1
        assertThat(banner("client", ip("server2"), 8080)).isEqualTo("server2 " + ip("client"));
    }

    @Test
    @Order(10)
    void aRestartedNodeAgentLeavesThePodsCapturedAndTheirConnectionsAndProxiesAlone() throws Exception {
        try (Socket open = connect("client", ip("server2"), 8080)) {
            assertThat(line(open)).isEqualTo("server2 " + ip("client"));
            String before = mesh.daemon("node1").output();
            int proxiesStarted = count(before, "pod proxies started");
            int snapshots = count(before, "ZDS snapshot received");
            mesh.restartAgent("node1");
            await().atMost(Duration.ofSeconds(60))
                    .until(() -> count(mesh.daemon("node1").output(), "ZDS snapshot received") > snapshots);
            open.getOutputStream().write("after the agent restart\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(line(open)).as("the open connection still works").isEqualTo("after the agent restart");
            assertThat(mesh.http("node2", 15000, "/debug/connections"))
                    .as("still through the mesh")
                    .contains("\"srcIdentity\" : \"spiffe://cluster.local/ns/apps/sa/client\"");
            assertThat(count(mesh.daemon("node1").output(), "pod proxies started"))
                    .as("the snapshot's Adds of known pods restarted no pod proxy")
                    .isEqualTo(proxiesStarted);
            assertThat(captured("client")).as("the pod kept its capture").isTrue();
        }
        assertThat(banner("client", ip("server2"), 8080)).isEqualTo("server2 " + ip("client"));
    }

    private static int count(String text, String what) {
        int n = 0;
        for (int i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + what.length())) {
            n++;
        }
        return n;
    }

    @Test
    @Order(11)
    void aKilledPeerDaemonEndsTheClientsConnectionPromptlyAndItsNodeLogsIt() throws Exception {
        try (Socket open = connect("client", ip("server2"), 8080)) {
            assertThat(line(open)).isEqualTo("server2 " + ip("client"));
            open.getOutputStream().write("ping\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(line(open)).isEqualTo("ping");
            int logged = mesh.daemon("node1").output().length();
            open.setSoTimeout(200); // a read timeout means "not closed yet"
            mesh.daemon("node2").kill(); // SIGKILL: node2's sockets are closed by the kernel, nothing is sent first
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ZERO).until(() -> closedByPeer(open));
            await().atMost(Duration.ofSeconds(10))
                    .untilAsserted(
                            () -> assertThat(mesh.daemon("node1").output().substring(logged))
                                    .as("node1's access log has the connection that the dead peer ended")
                                    .containsPattern(
                                            "connection complete\\t.*dst.workload=\"server2\".*direction=\"outbound\""));
        } finally {
            mesh.stopDaemon("node2");
            mesh.startDaemon("node2");
        }
        mesh.awaitReady("node2", Duration.ofSeconds(60));
        await().atMost(Duration.ofSeconds(20))
                .until(() -> ("server2 " + ip("client")).equals(banner("client", ip("server2"), 8080)));
    }

    @Test
    @Order(12)
    void aPodsInboundErrorLineCarriesItsProxyAndRequestSpansWhileItsAccessLineHasNone() throws Exception {
        int logged = mesh.daemon("node2").output().length();
        int closedPort = 8081; // nothing listens there in server2: node2's connect to the app is refused
        assertThat(banner("client", ip("server2"), closedPort)).isNull();
        String spans = "proxy{wl=apps/server2}:inbound{id=";
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            List<String> lines =
                    mesh.daemon("node2").output().substring(logged).lines().toList();
            // Upstream's spans, root first: the pod's proxy, then the request (the client's trace id and the HBONE
            // connection's peer, the client pod itself in in-pod mode).
            assertThat(lines)
                    .anySatisfy(l -> assertThat(l)
                            .containsPattern(
                                    "\\tdebug\\tproxy::inbound:proxy\\{wl=apps/server2\\}:inbound\\{id=[0-9a-f]{32}"
                                            + " peer=" + ip("client").replace(".", "\\.") + ":[0-9]+\\}"
                                            + "\\tinbound upstream connect failed\\t.*upstream=" + ip("server2") + ":"
                                            + closedPort));
            // The access line of the same connection is a root event: no spans.
            assertThat(lines)
                    .filteredOn(l -> l.contains("\taccess\tconnection complete\t") && l.contains(":" + closedPort))
                    .singleElement()
                    .satisfies(l -> assertThat(l)
                            .contains("\terror\taccess\tconnection complete\t")
                            .doesNotContain(spans));
        });
    }

    @Test
    @Order(13)
    void removingAPodClosesItsConnectionsAndFreesItsListeners() throws Exception {
        Socket open = connect("client", ip("server2"), 8080);
        assertThat(line(open)).isEqualTo("server2 " + ip("client"));
        // Short reads: a read timeout means "not closed yet", only an EOF or a reset counts as closed.
        open.setSoTimeout(200);
        mesh.removePod("client");
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ZERO).until(() -> closedByPeer(open));
        open.close();
        await().atMost(Duration.ofSeconds(20))
                .untilAsserted(() -> assertThatThrownBy(
                                () -> connect("client", "127.0.0.1", 15001).close())
                        .isInstanceOf(ConnectException.class));
    }

    /**
     * Whether the peer ended {@code s}: true on EOF or a reset, false while a read times out (still open). Bytes
     * that arrive are skipped.
     */
    static boolean closedByPeer(Socket s) throws IOException {
        try {
            return s.getInputStream().read() == -1;
        } catch (SocketTimeoutException notYet) {
            return false;
        } catch (SocketException reset) {
            return true;
        }
    }

    private boolean captured(String pod) throws Exception {
        return Shell.inNetns(mesh.pod(pod).netns(), "iptables-save").contains("ISTIO_OUTPUT");
    }
}
