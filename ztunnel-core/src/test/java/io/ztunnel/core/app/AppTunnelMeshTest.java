package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.ztunnel.core.net.Addresses;
import io.ztunnel.core.testing.ProxyV2Parser;
import io.ztunnel.core.testing.TestApps;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * PROXY-protocol application tunnels end to end: beside {@link MeshFixture}'s two daemons, two more workloads ask for
 * a {@code PROXY} tunnel, each with its own daemon in dedicated mode: {@code server-p} (127.0.0.6) with
 * {@code LOCALHOST_APP_TUNNEL} at its default (the app listens on 127.0.0.1) and {@code server-q} (127.0.0.7) with
 * {@code LOCALHOST_APP_TUNNEL=false} (the app listens on the pod IP). Their apps read the header with the independent
 * {@link ProxyV2Parser}, answer {@code ok}, then echo; the plain workload (server-a) must see the client's bytes only.
 */
@Timeout(120)
class AppTunnelMeshTest {
    private static final String CLIENT_ID = "spiffe://cluster.local/ns/client/sa/client";

    @TempDir
    Path dir;

    private @Nullable MeshFixture mesh;
    private @Nullable Daemon daemonP;
    private @Nullable Daemon daemonQ;
    private TestApps.@Nullable Server appP;
    private TestApps.@Nullable Server appQ;
    private final LinkedBlockingQueue<Seen> seen = new LinkedBlockingQueue<>();
    private final ListAppender<ILoggingEvent> logs = new ListAppender<>();

    /** What a PROXY app saw: the header and the socket's own addresses. */
    private record Seen(ProxyV2Parser.Header header, InetSocketAddress remote, InetSocketAddress local) {}

    @BeforeEach
    void start() throws Exception {
        logs.start();
        ((Logger) LoggerFactory.getLogger("access")).addAppender(logs);
    }

    @AfterEach
    void tearDown() throws Exception {
        ((Logger) LoggerFactory.getLogger("access")).detachAppender(logs);
        for (AutoCloseable c : new AutoCloseable[] {daemonP, daemonQ, appP, appQ, mesh}) {
            if (c != null) {
                c.close();
            }
        }
    }

    private TestApps.Server proxyApp(InetSocketAddress bind) throws IOException {
        return new TestApps.Server(bind, s -> {
            try {
                InputStream in = s.getInputStream();
                ProxyV2Parser.Header header = ProxyV2Parser.read(in);
                seen.add(new Seen(header, (InetSocketAddress) s.getRemoteSocketAddress(), (InetSocketAddress)
                        s.getLocalSocketAddress()));
                OutputStream out = s.getOutputStream();
                out.write("ok\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                in.transferTo(out);
                s.shutdownOutput();
            } catch (IOException e) {
                // a malformed header closes the connection: the test then sees no "ok"
            }
        });
    }

    private void startMesh() throws Exception {
        MeshFixture m = new MeshFixture(dir, Map.of());
        mesh = m;
        int portP = MeshFixture.freePort();
        int portQ = MeshFixture.freePort();
        appP = proxyApp(new InetSocketAddress("127.0.0.1", portP));
        appQ = proxyApp(new InetSocketAddress("127.0.0.7", portQ));
        String extra = """
                - uid: Kubernetes//Pod/server/server-p
                  name: server-p
                  namespace: server
                  serviceAccount: server-p
                  trustDomain: cluster.local
                  workloadIps: ["127.0.0.6"]
                  protocol: HBONE
                  applicationTunnel: {protocol: PROXY, port: %d}
                  services:
                    "server/proxied.server.svc.cluster.local": {80: 8080}
                - uid: Kubernetes//Pod/server/server-q
                  name: server-q
                  namespace: server
                  serviceAccount: server-q
                  trustDomain: cluster.local
                  workloadIps: ["127.0.0.7"]
                  protocol: HBONE
                  applicationTunnel: {protocol: PROXY, port: %d}
                  services: {}
                services:
                - name: proxied
                  namespace: server
                  hostname: proxied.server.svc.cluster.local
                  vips: ["/127.10.0.6"]
                  ports: {80: 8080}
                """.formatted(portP, portQ);
        m.write(MeshFixture.BASE.replace("services:\n- name: echo", extra + "- name: echo"));
        daemonP = Daemon.start(m.config("server/server-p/server-p", "127.0.0.6", Map.of()));
        daemonQ = Daemon.start(
                m.config("server/server-q/server-q", "127.0.0.7", Map.of("LOCALHOST_APP_TUNNEL", "false")));
    }

    /** Connects through the client daemon, sends {@code hello}, and returns all the app sent back. */
    private String exchange(String ip, int port) throws IOException {
        MeshFixture m = mesh;
        assertThat(m).isNotNull();
        try (Socket s = m.connect(ip, port)) {
            s.getOutputStream().write("hello".getBytes(StandardCharsets.US_ASCII));
            s.shutdownOutput();
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        }
    }

    private @Nullable String inboundSource(String workload) {
        List<Map<String, String>> lines = LogEvents.withMessage(logs.list, "connection complete").stream()
                .filter(l -> "inbound".equals(l.get("direction")) && workload.equals(l.get("dst.workload")))
                .toList();
        assertThat(lines).isNotEmpty();
        return lines.getLast().get("src.addr");
    }

    @Test
    void proxyTunnelAppsGetTheHeaderThenTheBytesAndPlainAppsGetNoHeader() throws Exception {
        startMesh();
        // Through the service VIP: the header names the HBONE authority, the pod IP and service target port.
        await().atMost(Duration.ofSeconds(20))
                .untilAsserted(() -> assertThat(exchange("127.10.0.6", 80)).isEqualTo("ok\nhello"));
        Seen p = seen.poll(10, TimeUnit.SECONDS);
        assertThat(p).isNotNull();
        assertThat(p.header().command()).isEqualTo(1);
        assertThat(p.header().addressFamily()).isEqualTo(1);
        assertThat(p.header().destination()).isEqualTo(new InetSocketAddress("127.0.0.6", 8080));
        assertThat(p.header().tlvs()).containsOnlyKeys(0xD0);
        assertThat(new String(p.header().tlvs().get(0xD0), StandardCharsets.UTF_8))
                .isEqualTo(CLIENT_ID);
        // LOCALHOST_APP_TUNNEL=true: pod loopback on both ends of the app's socket.
        assertThat(p.remote().getAddress().getHostAddress()).isEqualTo("127.0.0.1");
        assertThat(p.local().getAddress().getHostAddress()).isEqualTo("127.0.0.1");
        // The header's source is the HBONE connection's TCP peer, as the inbound access log shows it.
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(() -> assertThat(inboundSource("server-p"))
                        .isEqualTo(Addresses.format(
                                Objects.requireNonNull(p.header().source()))));

        // LOCALHOST_APP_TUNNEL=false: the app is reached on the pod IP, the header is the same shape.
        await().atMost(Duration.ofSeconds(20))
                .untilAsserted(() -> assertThat(exchange("127.0.0.7", 9000)).isEqualTo("ok\nhello"));
        Seen q = seen.poll(10, TimeUnit.SECONDS);
        assertThat(q).isNotNull();
        assertThat(q.local().getAddress().getHostAddress()).isEqualTo("127.0.0.7");
        assertThat(q.header().destination()).isEqualTo(new InetSocketAddress("127.0.0.7", 9000));
        assertThat(new String(q.header().tlvs().get(0xD0), StandardCharsets.UTF_8))
                .isEqualTo(CLIENT_ID);

        // A workload without an application tunnel receives exactly the client's bytes.
        assertThat(exchange("127.0.0.3", 8080)).isEqualTo("server-a\nhello");
        assertThat(seen).isEmpty();
    }
}
