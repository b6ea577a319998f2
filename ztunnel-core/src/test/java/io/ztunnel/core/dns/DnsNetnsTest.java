package io.ztunnel.core.dns;

import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.cni.testing.RequiresNetns;
import io.ztunnel.core.demo.Dnsmasq;
import io.ztunnel.core.demo.LocalMesh;
import io.ztunnel.core.demo.Shell;
import io.ztunnel.core.testing.TestApps;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * The DNS proxy on real network namespaces: two nodes, each with our node agent (DNS capture on by default) and a
 * daemon; an enrolled client pod, two server pods behind the service {@code web}; a resolver pod running dnsmasq
 * (Debian's {@code dnsmasq-base}) in an un-enrolled namespace on the other node, which every namespace's
 * {@code resolv.conf} names, the daemons' included. {@code dig} and {@code curl} run inside the pods.
 */
@RequiresNetns(tools = {"iptables", "nsenter", "dig", "dnsmasq", "curl"})
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(240)
class DnsNetnsTest {
    private static final Map<String, String> AMBIENT = Map.of(LocalMesh.DATAPLANE_MODE, "ambient");
    private static final int BIG = 80;

    private Path dir;
    private LocalMesh mesh;
    private Process dnsmasq;
    private final List<TestApps.Server> apps = new ArrayList<>();

    @BeforeAll
    void startMesh() throws Exception {
        dir = Files.createTempDirectory("dns-mesh");
        mesh = LocalMesh.start(
                dir,
                List.of("node1", "node2"),
                List.of(
                        new LocalMesh.PodSpec("client", "apps", "client", "node1", 2, Map.of()),
                        new LocalMesh.PodSpec("server1", "apps", "server", "node1", 3, Map.of("app", "web")),
                        new LocalMesh.PodSpec("outsider", "legacy", "default", "node1", 4, Map.of()),
                        new LocalMesh.PodSpec("server2", "apps", "server", "node2", 2, Map.of("app", "web")),
                        new LocalMesh.PodSpec("resolver", "infra", "default", "node2", 3, Map.of())),
                Map.of("apps", AMBIENT, "legacy", Map.of(), "infra", Map.of()),
                List.of(
                        new LocalMesh.ServiceSpec("web", "apps", 1, 80, 8080, List.of("server1", "server2")),
                        new LocalMesh.ServiceSpec("api", "apps", 2, 443, 8443, List.of(), "api.external.test")),
                Map.of("RUST_LOG", "info,dns=debug"),
                List.of("-Xmx192m", "-XX:+UseSerialGC", "-Dio.netty.leakDetection.level=paranoid"),
                m -> "nameserver " + m.pod("resolver").ip() + "\n"
                        + "search apps.svc.cluster.local svc.cluster.local cluster.local\n"
                        + "options ndots:5\n");
        startDnsmasq();
        for (String pod : List.of("server1", "server2")) {
            serveHttp(pod);
        }
    }

    /** dnsmasq in the resolver pod: external.example, and big.example with many addresses (for truncation). */
    private void startDnsmasq() throws Exception {
        StringBuilder hosts = new StringBuilder();
        for (int i = 1; i <= BIG; i++) {
            hosts.append("10.77.0.").append(i).append(" big.example\n");
        }
        Path hostsFile = dir.resolve("big.hosts");
        Files.writeString(hostsFile, hosts.toString());
        hostsFile.toFile().setReadable(true, false);
        dir.toFile().setExecutable(true, false);
        String ip = mesh.pod("resolver").ip();
        dnsmasq = Dnsmasq.start(
                mesh.pod("resolver").netns(),
                ip,
                dir,
                List.of(
                        "--local=/cluster.local/",
                        "--addn-hosts=" + hostsFile,
                        "--log-queries",
                        "--log-facility=" + dir.resolve("dnsmasq.log")));
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Shell.run(List.of(
                                "ip",
                                "netns",
                                "exec",
                                mesh.pod("resolver").netns(),
                                "dig",
                                "+short",
                                "+time=1",
                                "+tries=1",
                                "@" + ip,
                                "external.example"))
                        .stdout()
                        .contains("203.0.113.7")
                && System.nanoTime() < end) {
            assertThat(dnsmasq.isAlive())
                    .as("dnsmasq runs: " + Files.readString(dir.resolve("dnsmasq.out")))
                    .isTrue();
            Thread.sleep(100);
        }
    }

    @AfterAll
    void stopMesh() throws Exception {
        for (TestApps.Server app : apps) {
            app.close();
        }
        if (dnsmasq != null) {
            dnsmasq.destroy();
            dnsmasq.waitFor(5, TimeUnit.SECONDS);
        }
        String logs = mesh == null ? "" : mesh.logs();
        if (mesh != null) {
            mesh.close();
        }
        assertThat(logs).as("no Netty buffer leak in the daemons or agents").doesNotContain("LEAK:");
    }

    /** A one-line HTTP server in {@code pod} on 8080: the body is "<pod> <client ip>". */
    private void serveHttp(String pod) throws IOException {
        ServerSocket listener = mesh.listen(pod, 8080);
        apps.add(new TestApps.Server(listener, s -> {
            try {
                s.setSoTimeout(5000);
                s.getInputStream().read(new byte[4096]); // the request; its content does not matter
                String body = pod + " " + s.getInetAddress().getHostAddress() + "\n";
                s.getOutputStream()
                        .write(("HTTP/1.0 200 OK\r\nContent-Length: " + body.length() + "\r\n\r\n" + body)
                                .getBytes(StandardCharsets.US_ASCII));
            } catch (IOException ignored) {
                // client went away
            }
        }));
    }

    /** {@code dig} inside {@code pod} with the pod's resolv.conf; the whole output. */
    private String dig(String pod, String... args) {
        List<String> command =
                new ArrayList<>(List.of("ip", "netns", "exec", mesh.pod(pod).netns(), "dig"));
        command.addAll(List.of("+time=5", "+tries=1"));
        command.addAll(List.of(args));
        return Shell.run(command).stdout();
    }

    /** The data of the answer records of type {@code type} in a dig output. */
    private static List<String> answers(String digOutput, String type) {
        List<String> out = new ArrayList<>();
        Matcher m = Pattern.compile("(?m)^\\S+\\s+\\d+\\s+IN\\s+" + type + "\\s+(\\S+)$")
                .matcher(digOutput);
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    private static String status(String digOutput) {
        Matcher m = Pattern.compile("status: (\\w+)").matcher(digOutput);
        return m.find() ? m.group(1) : "no reply: " + digOutput;
    }

    @Test
    void anEnrolledPodResolvesAServiceVipByShortNameNamespaceAndFqdn() {
        String vip = mesh.vip(1);
        for (String name : List.of("web", "web.apps", "web.apps.svc.cluster.local")) {
            String out = dig("client", name);
            assertThat(status(out)).as(name).isEqualTo("NOERROR");
            assertThat(out).as(name).contains(" aa ");
            assertThat(answers(out, "A")).as(name).containsExactly(vip);
        }
        // With the pod's search list (as its libc would send it): a CNAME to the stripped name, then the VIP.
        String searched = dig("client", "+search", "web.apps");
        assertThat(answers(searched, "A")).containsExactly(vip);
        assertThat(mesh.daemon("node1").output()).contains("domain=web.apps.svc.cluster.local.");
    }

    @Test
    void aServiceEntryHostResolvesToItsVip() {
        assertThat(answers(dig("client", "api.external.test"), "A")).containsExactly(mesh.vip(2));
    }

    @Test
    void anExternalNameIsForwardedToTheResolverInAnotherNamespace() throws IOException {
        String out = dig("client", "external.example");
        assertThat(status(out)).isEqualTo("NOERROR");
        assertThat(out).doesNotContain(" aa ");
        assertThat(answers(out, "A")).containsExactly("203.0.113.7");
        assertThat(status(dig("client", "nothing.example"))).isEqualTo("NXDOMAIN");
        // dnsmasq saw the query from the client pod's own address (the daemon asks from inside the pod).
        assertThat(Files.readString(dir.resolve("dnsmasq.log")))
                .contains("query[A] external.example from " + mesh.pod("client").ip());
    }

    @Test
    void aTruncatedUdpAnswerIsRetriedOverTcpThroughTheCapture() {
        String out = dig("client", "+bufsize=512", "big.example");
        assertThat(out).contains("Truncated, retrying in TCP mode");
        assertThat(answers(out, "A")).hasSize(BIG);
        String local = dig("client", "+bufsize=512", "+tcp", "web");
        assertThat(answers(local, "A")).containsExactly(mesh.vip(1));
    }

    @Test
    void curlByServiceNameReachesTheServiceThroughCapture() {
        Shell.Result r = Shell.run(List.of(
                "ip", "netns", "exec", mesh.pod("client").netns(), "curl", "-sS", "--max-time", "10", "http://web/"));
        assertThat(r.exitCode()).as(r.stderr()).isZero();
        assertThat(r.stdout().strip())
                .matches("server[12] " + Pattern.quote(mesh.pod("client").ip()));
    }

    @Test
    void anUnenrolledPodKeepsItsNormalDns() throws IOException {
        // No capture: the resolver answers itself, and it does not know mesh service names.
        assertThat(answers(dig("outsider", "external.example"), "A")).containsExactly("203.0.113.7");
        assertThat(status(dig("outsider", "web.apps.svc.cluster.local"))).isEqualTo("NXDOMAIN");
        assertThat(Shell.inNetns(mesh.pod("outsider").netns(), "iptables-save")).doesNotContain("15053");
        assertThat(Shell.inNetns(mesh.pod("client").netns(), "iptables-save")).contains("REDIRECT --to-ports 15053");
    }

    @Test
    void theDaemonExposesDnsMetrics() throws IOException {
        dig("client", "web");
        dig("client", "external.example");
        String metrics = mesh.http("node1", 15020, "/metrics");
        assertThat(metrics)
                .contains("istio_dns_requests_total{request_query_type=\"a\",request_protocol=\"udp\","
                        + "source_canonical_service=\"client\",source_canonical_revision=\"v1\"}")
                .contains("istio_dns_upstream_requests_total{request_query_type=\"a\"")
                .contains("istio_dns_upstream_request_duration_seconds_bucket{");
    }
}
