package io.ztunnel.core.inpod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.ztunnel.cni.testing.RequiresNetns;
import io.ztunnel.core.demo.LocalMesh;
import io.ztunnel.core.testing.ProxyV2Parser;
import io.ztunnel.core.testing.TestApps;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A PROXY-protocol application tunnel in in-pod mode: the server pod's workload asks for {@code PROXY} on port 15088,
 * its app listens on 127.0.0.1:15088 inside the pod's namespace (with {@code LOCALHOST_APP_TUNNEL} at its default,
 * ztunnel dials the pod's loopback from the pod's loopback). The app reads the header with the independent
 * {@link ProxyV2Parser}, then echoes.
 */
@RequiresNetns(tools = {"iptables", "nsenter"})
@Timeout(240)
class AppTunnelNetnsTest {

    private record Seen(ProxyV2Parser.Header header, InetSocketAddress remote, InetSocketAddress local) {}

    @Test
    void theAppBehindAProxyTunnelGetsTheHeaderOnItsPodLoopbackThenTheBytes() throws Exception {
        Path dir = Files.createTempDirectory("app-tunnel");
        LinkedBlockingQueue<Seen> seen = new LinkedBlockingQueue<>();
        try (LocalMesh mesh = LocalMesh.start(
                dir,
                List.of("node1", "node2"),
                List.of(
                        new LocalMesh.PodSpec("client", "apps", "client", "node1", 2, Map.of()),
                        new LocalMesh.PodSpec("proxied", "apps", "proxied", "node2", 2, Map.of())),
                Map.of("apps", Map.of(LocalMesh.DATAPLANE_MODE, "ambient")),
                List.of(),
                Map.of("RUST_LOG", "info"),
                List.of("-Xmx192m", "-XX:+UseSerialGC", "-Dio.netty.leakDetection.level=paranoid"))) {
            ServerSocket bound = mesh.netns("proxied").call(() -> {
                ServerSocket s = new ServerSocket();
                s.setReuseAddress(true);
                s.bind(new InetSocketAddress("127.0.0.1", 15088), 64);
                return s;
            });
            try (TestApps.Server app = new TestApps.Server(bound, s -> {
                try {
                    InputStream in = s.getInputStream();
                    ProxyV2Parser.Header header = ProxyV2Parser.read(in);
                    seen.add(new Seen(header, (InetSocketAddress) s.getRemoteSocketAddress(), (InetSocketAddress)
                            s.getLocalSocketAddress()));
                    OutputStream out = s.getOutputStream();
                    out.write("ok\n".getBytes(StandardCharsets.US_ASCII));
                    in.transferTo(out);
                    s.shutdownOutput();
                } catch (IOException e) {
                    // no valid header: the connection is closed and the client sees no "ok"
                }
            })) {
                mesh.setApplicationTunnel("proxied", "PROXY", 15088);
                String client = mesh.pod("client").ip();
                String proxied = mesh.pod("proxied").ip();
                await().atMost(Duration.ofSeconds(30))
                        .untilAsserted(
                                () -> assertThat(exchange(mesh, proxied, 8080)).isEqualTo("ok\nhello"));
                Seen s = seen.poll(10, TimeUnit.SECONDS);
                assertThat(s).isNotNull();
                assertThat(s.remote().getAddress().getHostAddress()).isEqualTo("127.0.0.1");
                assertThat(s.local()).isEqualTo(new InetSocketAddress("127.0.0.1", 15088));
                assertThat(s.header().command()).isEqualTo(1);
                assertThat(s.header().addressFamily()).isEqualTo(1);
                assertThat(Objects.requireNonNull(s.header().source())
                                .getAddress()
                                .getHostAddress())
                        .isEqualTo(client);
                assertThat(s.header().destination()).isEqualTo(new InetSocketAddress(proxied, 8080));
                assertThat(new String(s.header().tlvs().get(0xD0), StandardCharsets.UTF_8))
                        .isEqualTo("spiffe://cluster.local/ns/apps/sa/client");
            }
            assertThat(mesh.logs()).as("no Netty buffer leak").doesNotContain("LEAK:");
        }
    }

    private static String exchange(LocalMesh mesh, String ip, int port) throws IOException {
        try (Socket s = mesh.netns("client").call(() -> {
            Socket socket = new Socket();
            socket.connect(new InetSocketAddress(ip, port), 10_000);
            socket.setSoTimeout(10_000);
            return socket;
        })) {
            s.getOutputStream().write("hello".getBytes(StandardCharsets.US_ASCII));
            s.shutdownOutput();
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        }
    }
}
