package io.ztunnel.core.inpod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.ztunnel.cni.testing.RequiresNetns;
import io.ztunnel.core.demo.LocalMesh;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * ztunnel's own inbound on real network namespaces: two nodes whose daemons (in-pod mode, separate processes) know
 * their own pod ({@code POD_NAME}, {@code POD_NAMESPACE}, {@code SERVICE_ACCOUNT}); the local control plane describes
 * each daemon as an HBONE workload at its node's IP. A captured client pod on node1 dials node2's IP: its ztunnel
 * sends HBONE to node2's own inbound, which serves the metrics port and refuses the loopback-only admin port.
 */
@RequiresNetns(tools = {"iptables", "nsenter"})
@Timeout(240)
class OwnInboundNetnsTest {
    private static final String CLIENT_PRINCIPAL = "spiffe://cluster.local/ns/apps/sa/client";

    /** An HTTP/1.0 GET from inside {@code pod}; the whole answer, or "" when the connection ends without one. */
    private static String get(LocalMesh mesh, String pod, String ip, int port, String path) throws IOException {
        try (Socket s = mesh.netns(pod).call(() -> {
            Socket socket = new Socket();
            socket.connect(new InetSocketAddress(ip, port), 10_000);
            socket.setSoTimeout(10_000);
            return socket;
        })) {
            s.getOutputStream()
                    .write(("GET " + path + " HTTP/1.0\r\nHost: ztunnel\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        } catch (SocketException e) {
            return ""; // reset
        }
    }

    /** The lines of a Prometheus scrape of {@code metric} carrying every label given. */
    private static List<String> series(String scrape, String metric, String... labels) {
        return scrape.lines()
                .filter(l -> l.startsWith(metric + "{"))
                .filter(l -> List.of(labels).stream().allMatch(l::contains))
                .toList();
    }

    @Test
    void aCapturedClientReachesTheOtherNodesZtunnelMetricsOverHboneButNotItsAdminPort() throws Exception {
        Path dir = Files.createTempDirectory("own-inbound");
        try (LocalMesh mesh = LocalMesh.start(
                dir,
                List.of("node1", "node2"),
                List.of(new LocalMesh.PodSpec("client", "apps", "client", "node1", 2, Map.of())),
                Map.of("apps", Map.of(LocalMesh.DATAPLANE_MODE, "ambient")),
                List.of(),
                Map.of(
                        "RUST_LOG", "info",
                        "POD_NAME", "ztunnel",
                        "POD_NAMESPACE", "istio-system",
                        "SERVICE_ACCOUNT", "ztunnel"),
                List.of("-Xmx192m", "-XX:+UseSerialGC", "-Dio.netty.leakDetection.level=paranoid"))) {
            String node2 = mesh.nodeIp("node2");
            await().atMost(Duration.ofSeconds(30))
                    .untilAsserted(() -> assertThat(get(mesh, "client", node2, 15020, "/metrics"))
                            .startsWith("HTTP/1.1 200")
                            .contains("istio_build{"));
            // It went through node2's own inbound: node2 reports it as destination, for its own workload.
            await().atMost(Duration.ofSeconds(10))
                    .untilAsserted(() -> assertThat(series(
                                    mesh.http("node2", 15020, "/metrics"),
                                    "istio_tcp_connections_opened_total",
                                    "reporter=\"destination\"",
                                    "destination_workload=\"ztunnel\"",
                                    "destination_principal=\"spiffe://cluster.local/ns/istio-system/sa/ztunnel\"",
                                    "source_principal=\"" + CLIENT_PRINCIPAL + "\""))
                            .isNotEmpty());
            // The admin port listens on node2's loopback only: the CONNECT is refused and the client gets nothing.
            assertThat(get(mesh, "client", node2, 15000, "/config_dump")).isEmpty();
            await().atMost(Duration.ofSeconds(10))
                    .untilAsserted(() -> assertThat(mesh.daemon("node2").output())
                            .containsPattern("connection complete.*dst\\.hbone_addr=" + node2.replace(".", "\\.")
                                    + ":15000.*dst\\.workload=\"ztunnel\".*direction=\"inbound\".*Connection refused"));
            assertThat(mesh.logs()).as("no Netty buffer leak").doesNotContain("LEAK:");
        }
    }
}
