package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.Env;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.WorkloadCertificate;
import io.ztunnel.core.testing.MtlsBridge;
import io.ztunnel.core.testing.RawHttp2;
import io.ztunnel.core.testing.RawHttp2.Client;
import io.ztunnel.core.testing.RawHttp2.Frame;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * ztunnel's own inbound in shared mode, in process: the daemon runs with {@code POD_NAME}, {@code POD_NAMESPACE},
 * {@code SERVICE_ACCOUNT} and {@code NODE_NAME} of its own workload record (pod IP 127.0.0.9, trust domain
 * {@code ztunnel.example}), no pods enrolled (the ZDS socket does not exist), and a meshed client (this test, with
 * its own certificate from the daemon's CA) speaks HBONE to 127.0.0.9 on the HBONE port.
 */
@Timeout(60)
class OwnInboundTest {
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final SpiffeId CLIENT = new SpiffeId("cluster.local", "client", "client");
    private static final String ZTUNNEL_RECORD = record("cluster.local");

    /** ztunnel's workload record, in {@code trustDomain}. */
    private static String record(String trustDomain) {
        return """
                - uid: Kubernetes//Pod/istio-system/ztunnel-x
                  name: ztunnel-x
                  namespace: istio-system
                  serviceAccount: ztunnel
                  trustDomain: %s
                  node: node1
                  workloadIps: ["127.0.0.9"]
                  protocol: HBONE
                  services: {}
                """.formatted(trustDomain);
    }

    @TempDir
    Path dir;

    private @Nullable Daemon daemon;
    private @Nullable MtlsBridge bridge;
    private @Nullable Client client;

    @AfterEach
    void tearDown() throws Exception {
        if (client != null) {
            client.close();
        }
        if (bridge != null) {
            bridge.close();
        }
        if (daemon != null) {
            daemon.close();
        }
    }

    private Daemon start(String workloads, String policies) throws Exception {
        Path config = dir.resolve("mesh.yaml");
        Files.writeString(config, "workloads:\n" + workloads + "services: []\n" + policies);
        Map<String, String> env = new HashMap<>();
        env.put("PROXY_MODE", "shared");
        env.put("POD_NAME", "ztunnel-x");
        env.put("POD_NAMESPACE", "istio-system");
        env.put("SERVICE_ACCOUNT", "ztunnel");
        env.put("NODE_NAME", "node1");
        env.put("INPOD_UDS", dir.resolve("no-agent.sock").toString());
        env.put("INBOUND_HBONE_PORT", String.valueOf(MeshFixture.freePort()));
        env.put("LOCAL_XDS_PATH", config.toString());
        env.put("XDS_ADDRESS", "");
        env.put("CA_ADDRESS", "");
        env.put("LOCAL_CA_DIR", dir.resolve("ca").toString());
        env.put("ADMIN_PORT", "0");
        env.put("STATS_PORT", "0");
        env.put("READINESS_PORT", "0");
        env.put("ZTUNNEL_WORKER_THREADS", "1");
        Daemon d = Daemon.start(Config.from(new Env(env)));
        daemon = d;
        await().atMost(WAIT).until(() -> d.ownInboundAddress() != null);
        return d;
    }

    private static InetSocketAddress selfHbone(Daemon d) {
        InetSocketAddress bound = d.ownInboundAddress();
        assertThat(bound).isNotNull();
        assertThat(bound.getAddress().isAnyLocalAddress())
                .as("bound to the wildcard")
                .isTrue();
        return new InetSocketAddress("127.0.0.9", bound.getPort());
    }

    private static int port(@Nullable InetSocketAddress address) {
        assertThat(address).isNotNull();
        return address.getPort();
    }

    private WorkloadCertificate clientCertificate(Daemon d) throws Exception {
        return clientCertificate(d, CLIENT);
    }

    private WorkloadCertificate clientCertificate(Daemon d, SpiffeId id) throws Exception {
        return d.certificates().fetch(id).get(10, TimeUnit.SECONDS).certificate();
    }

    /** An HBONE client to ztunnel's own inbound, with a 16 MiB receive window. */
    private Client hbone(Daemon d) throws Exception {
        WorkloadCertificate cert = clientCertificate(d);
        MtlsBridge b = MtlsBridge.start(selfHbone(d), cert.privateKey(), cert.chain(), cert.roots());
        bridge = b;
        Client c = Client.open(b.address(), RawHttp2.SETTINGS_INITIAL_WINDOW_SIZE, 16 << 20);
        client = c;
        c.send(RawHttp2.windowUpdate(0, 16 << 20));
        return c;
    }

    /** CONNECTs to 127.0.0.9:{@code port} and sends an HTTP/1.1 GET; returns the :status and what came back. */
    private static String[] get(Client c, int stream, int port, String path) throws Exception {
        c.send(RawHttp2.connect(stream, "127.0.0.9:" + port));
        Frame response = c.await(f -> f.type() == RawHttp2.HEADERS && f.stream() == stream, WAIT);
        String status = response.headerBlock().status().toString();
        if (!status.equals("200")) {
            return new String[] {status, ""};
        }
        c.send(RawHttp2.data(
                stream,
                false,
                ("GET " + path + " HTTP/1.1\r\nHost: ztunnel\r\nConnection: close\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII)));
        c.await(f -> f.stream() == stream && f.endStream() && f.type() == RawHttp2.DATA, WAIT);
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (Frame f : c.seen()) {
            if (f.type() == RawHttp2.DATA && f.stream() == stream) {
                body.writeBytes(f.payload());
            }
        }
        return new String[] {status, body.toString(StandardCharsets.UTF_8)};
    }

    @Test
    void aMeshedClientReachesZtunnelsMetricsAndReadinessButNotItsAdminPort() throws Exception {
        Daemon d = start(ZTUNNEL_RECORD, "");
        Client c = hbone(d);
        int stats = port(d.metricsAddress());
        String[] metrics = get(c, 1, stats, "/metrics");
        assertThat(metrics[0]).isEqualTo("200");
        assertThat(metrics[1]).startsWith("HTTP/1.1 200").contains("istio_build{");
        String[] ready = get(c, 3, port(d.readinessAddress()), "/healthz/ready");
        assertThat(ready[0]).isEqualTo("200");
        // The readiness server answers (not ready: no node agent ever connects in this test).
        assertThat(ready[1]).startsWith("HTTP/1.1 500").contains("pending: workload proxy manager");
        // The admin server listens on loopback only: the connect to the pod IP is refused.
        assertThat(get(c, 5, port(d.adminAddress()), "/config_dump")[0]).isEqualTo("503");
        // Connections through it are ordinary inbound connections in the metrics, for ztunnel's workload.
        await().atMost(WAIT)
                .untilAsserted(() -> assertThat(MeshFixture.get(
                                new InetSocketAddress("127.0.0.1", port(d.metricsAddress())), "/metrics"))
                        .contains("istio_tcp_connections_opened_total{")
                        .contains("destination_workload=\"ztunnel-x\"")
                        .contains("source_principal=\"spiffe://cluster.local/ns/client/sa/client\""));
    }

    @Test
    void itPresentsTheIdentityOfZtunnelsOwnWorkloadRecord() throws Exception {
        // The client must be in the server's trust domain, which follows ztunnel's record, not TRUST_DOMAIN.
        Daemon d = start(record("ztunnel.example"), "");
        WorkloadCertificate cert = clientCertificate(d, new SpiffeId("ztunnel.example", "client", "client"));
        KeyStore keys = KeyStore.getInstance("PKCS12");
        keys.load(null, null);
        keys.setKeyEntry("client", cert.privateKey(), new char[0], cert.chain().toArray(new X509Certificate[0]));
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, new char[0]);
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        for (int i = 0; i < cert.roots().size(); i++) {
            trust.setCertificateEntry("root" + i, cert.roots().get(i));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext tls = SSLContext.getInstance("TLSv1.3");
        tls.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        InetSocketAddress target = selfHbone(d);
        try (Socket raw = new Socket(target.getAddress(), target.getPort());
                SSLSocket s = (SSLSocket)
                        tls.getSocketFactory().createSocket(raw, target.getHostString(), target.getPort(), true)) {
            SSLParameters p = s.getSSLParameters();
            p.setApplicationProtocols(new String[] {"h2"});
            s.setSSLParameters(p);
            s.startHandshake();
            X509Certificate leaf = (X509Certificate) s.getSession().getPeerCertificates()[0];
            // The server accepted our certificate too: it answers with its HTTP/2 preface (a SETTINGS frame).
            s.getOutputStream().write(RawHttp2.PREFACE);
            s.getOutputStream().write(RawHttp2.settings());
            s.getOutputStream().flush();
            s.setSoTimeout(10_000);
            byte[] head = s.getInputStream().readNBytes(9);
            assertThat(head).hasSize(9);
            assertThat(head[3]).as("frame type").isEqualTo((byte) RawHttp2.SETTINGS);
            List<Object> sans = leaf.getSubjectAlternativeNames().stream()
                    .map(san -> (Object) san.get(1))
                    .toList();
            assertThat(sans).contains("spiffe://ztunnel.example/ns/istio-system/sa/ztunnel");
        }
    }

    @Test
    void authorizationPoliciesApplyToZtunnelsOwnInbound() throws Exception {
        Daemon d = start(ZTUNNEL_RECORD, """
                policies:
                - name: deny-client
                  namespace: istio-system
                  scope: Namespace
                  action: Deny
                  dryRun: false
                  rules: [[[{principals: [{Exact: "cluster.local/ns/client/sa/client"}]}]]]
                """);
        Client c = hbone(d);
        assertThat(get(c, 1, port(d.metricsAddress()), "/metrics")[0]).isEqualTo("401");
    }

    @Test
    void withoutZtunnelsWorkloadRecordTheHandshakeFailsAfterTheWait() throws Exception {
        Daemon d = start("""
                - uid: Kubernetes//Pod/istio-system/ztunnel-x
                  name: ztunnel-x
                  namespace: istio-system
                  serviceAccount: ztunnel
                  node: another-node
                  workloadIps: ["127.0.0.9"]
                  protocol: HBONE
                  services: {}
                """, "");
        WorkloadCertificate cert = clientCertificate(d);
        MtlsBridge b = MtlsBridge.start(selfHbone(d), cert.privateKey(), cert.chain(), cert.roots());
        bridge = b;
        try (Socket s = new Socket(b.address().getAddress(), b.address().getPort())) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write(RawHttp2.PREFACE);
            // The TLS side ends without a server SETTINGS: the plaintext side reads end of stream.
            assertThat(s.getInputStream().read()).isEqualTo(-1);
        }
        assertThat(b.handshakeFailures()).isEqualTo(1);
        assertThat(List.of(d.ownInboundAddress())).doesNotContainNull();
    }
}
