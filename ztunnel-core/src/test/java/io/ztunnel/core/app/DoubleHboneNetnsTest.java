package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.testing.RequiresNetns;
import io.ztunnel.core.demo.LocalMesh;
import io.ztunnel.core.identity.LocalCa;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.TestPki;
import io.ztunnel.core.testing.TestApps;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.http.MetaData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Double HBONE on real network namespaces, two networks: node1 (its daemon's {@code NETWORK} and its pods on
 * {@code net-a}) holds the captured client pod; node2 ({@code net-b}) holds the server pod, the only endpoint of
 * service {@code echo.server}, and a plain (not enrolled) gateway pod, named as the server workload's network gateway.
 * The gateway is {@link JettyNetworkGateway} (Jetty's HTTP/2 and the JDK's TLS, none of the daemon's outbound code)
 * running in this JVM with its sockets inside the gateway pod's namespace: it terminates the outer CONNECT and
 * forwards the inner stream's bytes from the gateway pod's IP to the server pod's port 15008, where node2's ztunnel
 * takes the inner HBONE. The client app dials the service VIP and knows nothing of any of this.
 */
@RequiresNetns(tools = {"iptables", "nsenter"})
@Timeout(240)
class DoubleHboneNetnsTest {
    private static final SpiffeId CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/client/sa/client");
    private static final SpiffeId SERVER = SpiffeId.parse("spiffe://cluster.local/ns/server/sa/server");
    private static final SpiffeId GATEWAY = SpiffeId.parse("spiffe://cluster.local/ns/istio-system/sa/gateway");
    private static final String HOST = "echo.server.svc.cluster.local";
    private static final Map<String, String> AMBIENT = Map.of(LocalMesh.DATAPLANE_MODE, "ambient");
    private static final long CLIENT_BYTES = 3L * 1024 * 1024 + 17;
    private static final long SERVER_BYTES = 2L * 1024 * 1024 + 5;

    /** What one connection through the mesh carried, as each app saw it. */
    private record Exchange(TestApps.Digest clientReceived, String clientSent) {}

    @Test
    void aPodInNetworkAReachesAServiceOnlyInNetworkBThroughBsGatewayAndThePolicyThereApplies() throws Exception {
        Path dir = Files.createTempDirectory("double-hbone");
        try (LocalMesh mesh = LocalMesh.start(
                dir,
                List.of("node1", "node2"),
                List.of(
                        new LocalMesh.PodSpec("client", "client", "client", "node1", 2, Map.of()),
                        new LocalMesh.PodSpec("server", "server", "server", "node2", 2, Map.of("app", "echo")),
                        new LocalMesh.PodSpec("gateway", "istio-system", "gateway", "node2", 3, Map.of())),
                Map.of("client", AMBIENT, "server", AMBIENT, "istio-system", Map.of()),
                List.of(new LocalMesh.ServiceSpec("echo", "server", 1, 80, 8080, List.of("server"))),
                Map.of("RUST_LOG", "info"),
                List.of("-Xmx192m", "-XX:+UseSerialGC", "-Dio.netty.leakDetection.level=paranoid"),
                null,
                LocalMesh.Launch.JAVA,
                Map.of("node1", "net-a", "node2", "net-b"))) {
            String gatewayIp = mesh.pod("gateway").ip();
            String serverIp = mesh.pod("server").ip();
            String vip = mesh.vip(1);
            mesh.setWorkloadField(
                    "server", "networkGateway", "{destination: \"net-b/" + gatewayIp + "\", hboneMtlsPort: 15008}");
            mesh.setServiceField("echo", "subjectAltNames", "[\"" + SERVER + "\"]");
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                JsonNode state = state(mesh, "node1");
                assertThat(state.path("workloads"))
                        .anySatisfy(w -> assertThat(w.path("networkGateway").isObject())
                                .as(w.toString())
                                .isTrue());
                assertThat(state.path("services"))
                        .anySatisfy(
                                svc -> assertThat(svc.path("subjectAltNames").toString())
                                        .contains(SERVER.toString()));
            });

            // The server app: sends its own bytes and reads the client's, each direction ending with a half-close.
            CompletableFuture<TestApps.Digest> serverReceived = new CompletableFuture<>();
            CompletableFuture<String> serverSent = new CompletableFuture<>();
            ServerSocket bound = mesh.listen("server", 8080);
            PodNetns gatewayNetns = mesh.netns("gateway");
            LocalCa ca = LocalCa.loadOrCreate(dir.resolve("ca"), Clock.systemUTC());
            try (TestApps.Server app = new TestApps.Server(bound, s -> {
                        CompletableFuture<String> sent = async(() -> {
                            String sha = TestApps.send(s.getOutputStream(), SERVER_BYTES, 2);
                            s.shutdownOutput();
                            return sha;
                        });
                        try {
                            serverReceived.complete(TestApps.receive(s.getInputStream()));
                            serverSent.complete(sent.get(60, TimeUnit.SECONDS));
                        } catch (Exception e) {
                            serverReceived.completeExceptionally(e);
                            serverSent.completeExceptionally(e);
                        }
                    });
                    JettyNetworkGateway gateway = gatewayNetns.call(() -> new JettyNetworkGateway(
                            new InetSocketAddress(gatewayIp, 15008),
                            TestPki.issue(ca, GATEWAY, Duration.ofHours(1)),
                            new InetSocketAddress(serverIp, 15008),
                            // each upstream socket is made in the gateway pod's namespace, on its thread
                            local -> gatewayNetns.call(() -> JettyNetworkGateway.bound(local))))) {

                Exchange exchange = exchange(mesh, vip);
                assertThat(exchange.clientReceived())
                        .as("the server's bytes, intact, then EOF")
                        .isEqualTo(new TestApps.Digest(serverSent.get(30, TimeUnit.SECONDS), SERVER_BYTES));
                assertThat(serverReceived.get(30, TimeUnit.SECONDS))
                        .as("the client's bytes, intact, then EOF")
                        .isEqualTo(new TestApps.Digest(exchange.clientSent(), CLIENT_BYTES));

                // The outer layer: the gateway's TLS peer was the client workload, one CONNECT for the service.
                assertThat(gateway.clientIdentities).containsExactly(CLIENT.toString());
                assertThat(gateway.connects).hasSize(1);
                MetaData.Request outer = Objects.requireNonNull(gateway.connects.peek());
                assertThat(outer.getMethod()).isEqualTo("CONNECT");
                assertThat(outer.getHttpURI().getAuthority()).isEqualTo(HOST + ":80");
                assertThat(outer.getHttpFields().get("x-forwarded-network")).isNull();

                // The inner layer: node2's ztunnel took it from the gateway pod's IP, with the client's identity
                // from the inner mutual TLS; node1's ztunnel dialled the gateway and verified the server's identity.
                await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                    assertThat(completions(mesh, "node2"))
                            .anySatisfy(l -> assertThat(l)
                                    .contains("direction=\"inbound\"")
                                    .contains("src.addr=" + gatewayIp + ":")
                                    .contains("src.identity=\"" + CLIENT + "\"")
                                    .contains("dst.identity=\"" + SERVER + "\"")
                                    .contains("dst.hbone_addr=" + HOST + ":80")
                                    .contains("bytes_recv=" + CLIENT_BYTES));
                    assertThat(completions(mesh, "node1"))
                            .anySatisfy(l -> assertThat(l)
                                    .contains("direction=\"outbound\"")
                                    .contains("dst.addr=" + gatewayIp + ":15008")
                                    .contains("src.identity=\"" + CLIENT + "\"")
                                    .contains("dst.identity=\"" + SERVER + "\"")
                                    .contains("bytes_sent=" + CLIENT_BYTES));
                });

                // A DENY for the client's identity at the destination: the gateway still carries the outer stream,
                // node2's ztunnel refuses the inner CONNECT, and the server app never sees a connection.
                mesh.setPolicies("""
                        - name: deny-client
                          namespace: server
                          scope: Namespace
                          action: Deny
                          dryRun: false
                          rules: [[[{principals: [{Exact: "cluster.local/ns/client/sa/client"}]}]]]
                        """);
                await().atMost(Duration.ofSeconds(20))
                        .untilAsserted(() -> assertThat(state(mesh, "node2").path("policies"))
                                .anySatisfy(
                                        p -> assertThat(p.path("name").asText()).isEqualTo("deny-client")));
                int accepted = app.accepted.size();
                assertThat(exchange(mesh, vip).clientReceived().bytes())
                        .as("nothing from the server")
                        .isZero();
                assertThat(gateway.connects).hasSize(2);
                await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                    assertThat(completions(mesh, "node2"))
                            .anySatisfy(l -> assertThat(l)
                                    .contains("direction=\"inbound\"")
                                    .contains("src.addr=" + gatewayIp + ":")
                                    .contains("src.identity=\"" + CLIENT + "\"")
                                    .contains("explicitly denied by: server/deny-client"));
                    assertThat(completions(mesh, "node1"))
                            .anySatisfy(l -> assertThat(l)
                                    .contains("direction=\"outbound\"")
                                    .contains("dst.addr=" + gatewayIp + ":15008")
                                    .contains("inner HBONE")
                                    .contains("401"));
                });
                assertThat(app.accepted).hasSize(accepted);
            }
            for (String node : List.of("node1", "node2")) {
                assertThat(mesh.daemon(node).output())
                        .as("no Netty buffer leak")
                        .doesNotContain("LEAK:");
            }
        }
    }

    /**
     * From the client pod: dials the VIP, sends {@link #CLIENT_BYTES} then half-closes, and reads to EOF meanwhile;
     * a reset counts as EOF (what was read before it is kept).
     */
    private static Exchange exchange(LocalMesh mesh, String vip) throws Exception {
        try (Socket s = mesh.netns("client").call(() -> {
            Socket socket = new Socket();
            socket.connect(new InetSocketAddress(vip, 80), 10_000);
            socket.setSoTimeout(30_000);
            return socket;
        })) {
            CompletableFuture<TestApps.Digest> received = async(() -> {
                try {
                    return TestApps.receive(s.getInputStream());
                } catch (SocketException e) {
                    return new TestApps.Digest("reset", 0);
                }
            });
            String sent;
            try {
                sent = TestApps.send(s.getOutputStream(), CLIENT_BYTES, 1);
                s.shutdownOutput();
            } catch (SocketException e) {
                sent = "reset";
            }
            return new Exchange(received.get(60, TimeUnit.SECONDS), sent);
        }
    }

    /**
     * Runs {@code task} on a thread of its own. Not the common pool: it has a single worker on a 2-core machine and does
     * not add one for a blocked socket read, so one app's read there would keep the other app's writer from starting.
     */
    private static <T> CompletableFuture<T> async(Callable<T> task) {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread.ofVirtual().name("app-io").start(() -> {
            try {
                result.complete(task.call());
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        });
        return result;
    }

    /**
     * The state a node's ztunnel is using, from its config dump (not the dump's {@code staticConfig}: that is the
     * config file read again for the dump, which is ahead of the state until the file watcher has loaded it).
     */
    private static JsonNode state(LocalMesh mesh, String node) throws IOException {
        String response = mesh.http(node, 15000, "/config_dump");
        assertThat(response).as("config_dump answer").startsWith("HTTP/1.1 200");
        JsonNode dump = new ObjectMapper().readTree(response.substring(response.indexOf("\r\n\r\n") + 4));
        ((ObjectNode) dump).remove("staticConfig");
        return dump;
    }

    /** The access log lines of a node's ztunnel for finished connections. */
    private static List<String> completions(LocalMesh mesh, String node) {
        return mesh.daemon(node)
                .output()
                .lines()
                .filter(l -> l.contains("connection complete"))
                .toList();
    }
}
