package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ztunnel.core.admin.ConfigDumpClient;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.Env;
import io.ztunnel.core.dns.ResolvConf;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** Metrics, admin API and diagnostics of running daemons, as an operator sees them. */
@Timeout(120)
class ObservabilityTest {
    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)\\{(.*)} (\\S+)$");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

    /** Upstream's {@code /logging} usage text, byte for byte. */
    private static final String LOGGING_HELP = "\nusage: POST /logging\t\t\t\t\t\t(To list current level)\n"
            + "usage: POST /logging?level=<level>\t\t\t\t(To change global levels)\n"
            + "usage: POST /logging?level={mod1}:{level1},{mod2}:{level2}\t(To change specific mods' logging level)\n\n"
            + "hint: loglevel:\terror|warn|info|debug|trace|off\nhint: mod_name:\tthe module name, i.e. ztunnel::proxy\n";

    @TempDir
    Path dir;

    /** The mesh the test started, closed after it. */
    private @Nullable MeshFixture started;

    @AfterEach
    void tearDown() throws Exception {
        if (started != null) {
            started.close();
        }
    }

    private MeshFixture startMesh() throws Exception {
        MeshFixture mesh = new MeshFixture(dir, Map.of());
        started = mesh;
        return mesh;
    }

    /** One parsed sample: name, labels in order, value. */
    record Sample(String name, LinkedHashMap<String, String> labels, double value) {}

    static List<Sample> parse(String exposition) {
        return exposition
                .lines()
                .map(SAMPLE::matcher)
                .filter(Matcher::matches)
                .map(m -> {
                    LinkedHashMap<String, String> labels = new LinkedHashMap<>();
                    Matcher l = LABEL.matcher(m.group(2));
                    while (l.find()) {
                        labels.put(l.group(1), l.group(2));
                    }
                    return new Sample(m.group(1), labels, Double.parseDouble(m.group(3)));
                })
                .toList();
    }

    static double value(List<Sample> samples, String name, Map<String, String> where) {
        return samples.stream()
                .filter(s -> s.name().equals(name))
                .filter(s -> s.labels().entrySet().containsAll(where.entrySet()))
                .mapToDouble(Sample::value)
                .sum();
    }

    @Test
    void aKnownTransferIsCountedExactlyByBothReportersWithIstiosLabels() throws Exception {
        MeshFixture mesh = startMesh();
        byte[] payload = new byte[100_000];
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
            s.getOutputStream().write(payload);
            s.shutdownOutput();
            assertThat(s.getInputStream().readAllBytes()).hasSize(payload.length);
        }
        Map<String, String> common = new LinkedHashMap<>();
        common.put("source_workload", "client");
        common.put("source_canonical_service", "unknown");
        common.put("source_canonical_revision", "unknown");
        common.put("source_workload_namespace", "client");
        common.put("source_principal", "spiffe://cluster.local/ns/client/sa/client");
        common.put("source_app", "unknown");
        common.put("source_version", "unknown");
        common.put("source_cluster", "Kubernetes");
        common.put("destination_service", "unknown");
        common.put("destination_service_namespace", "unknown");
        common.put("destination_service_name", "unknown");
        common.put("destination_workload", "server-a");
        common.put("destination_canonical_service", "echo");
        common.put("destination_canonical_revision", "v1");
        common.put("destination_workload_namespace", "server");
        common.put("destination_principal", "spiffe://cluster.local/ns/server/sa/server-a");
        common.put("destination_app", "echo");
        common.put("destination_version", "v1");
        common.put("destination_cluster", "Kubernetes");
        common.put("request_protocol", "tcp");
        common.put("response_flags", "-");
        common.put("connection_security_policy", "mutual_tls");

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            String clientScrape = MeshFixture.get(MeshFixture.metrics(mesh.client), "/metrics");
            List<Sample> client = parse(clientScrape);
            Map<String, String> source = new LinkedHashMap<>();
            source.put("reporter", "source");
            source.putAll(common);
            assertThat(value(client, "istio_tcp_connections_opened_total", source))
                    .isEqualTo(1);
            assertThat(value(client, "istio_tcp_connections_closed_total", source))
                    .isEqualTo(1);
            assertThat(value(client, "istio_tcp_received_bytes_total", source)).isEqualTo(payload.length);
            assertThat(value(client, "istio_tcp_sent_bytes_total", source)).isEqualTo(payload.length + 9);
            Sample opened = client.stream()
                    .filter(s -> s.name().equals("istio_tcp_connections_opened_total"))
                    .findFirst()
                    .orElseThrow();
            assertThat(List.copyOf(opened.labels().keySet()).subList(0, 23))
                    .containsExactly(
                            "reporter",
                            "source_workload",
                            "source_canonical_service",
                            "source_canonical_revision",
                            "source_workload_namespace",
                            "source_principal",
                            "source_app",
                            "source_version",
                            "source_cluster",
                            "destination_service",
                            "destination_service_namespace",
                            "destination_service_name",
                            "destination_workload",
                            "destination_canonical_service",
                            "destination_canonical_revision",
                            "destination_workload_namespace",
                            "destination_principal",
                            "destination_app",
                            "destination_version",
                            "destination_cluster",
                            "request_protocol",
                            "response_flags",
                            "connection_security_policy");

            String serverScrape = MeshFixture.get(MeshFixture.metrics(mesh.server), "/stats/prometheus");
            List<Sample> server = parse(serverScrape);
            Map<String, String> destination = new LinkedHashMap<>(source);
            destination.put("reporter", "destination");
            // The HBONE peer is the client daemon's host address, not a known workload: source labels come from the
            // client's baggage (namespace, workload name, cluster), and source_app is then the workload name.
            destination.put("source_workload", "client");
            destination.put("source_app", "client");
            // Inbound guesses the service: the workload's service whose target port is the one connected to.
            destination.put("destination_service", "echo.server.svc.cluster.local");
            destination.put("destination_service_namespace", "server");
            destination.put("destination_service_name", "echo");
            assertThat(value(server, "istio_tcp_connections_opened_total", destination))
                    .isEqualTo(1);
            assertThat(value(server, "istio_tcp_received_bytes_total", destination))
                    .isEqualTo(payload.length);
            assertThat(value(server, "istio_tcp_sent_bytes_total", destination)).isEqualTo(payload.length + 9);
        });
    }

    @Test
    void socketsOpenCountsAcceptedSocketsPerReporterWhileTheyLive() throws Exception {
        MeshFixture mesh = startMesh();
        Map<String, String> source = Map.of("reporter", "source");
        Map<String, String> destination = Map.of("reporter", "destination");
        try (Socket first = mesh.connect("127.0.0.3", 8080);
                Socket second = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(first)).isEqualTo("server-a");
            assertThat(MeshFixture.banner(second)).isEqualTo("server-a");
            // Two sockets accepted on the client's 15001; the server's 15008 accepted one pooled HBONE connection
            // carrying both streams (upstream counts sockets, not CONNECT streams).
            await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
                List<Sample> client = parse(MeshFixture.get(MeshFixture.metrics(mesh.client), "/metrics"));
                List<Sample> server = parse(MeshFixture.get(MeshFixture.metrics(mesh.server), "/metrics"));
                assertThat(value(client, "istio_tcp_sockets_open", source)).isEqualTo(2);
                assertThat(value(server, "istio_tcp_sockets_open", destination)).isEqualTo(1);
                assertThat(value(client, "istio_tcp_sockets_open", destination)).isZero();
            });
        }
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            List<Sample> client = parse(MeshFixture.get(MeshFixture.metrics(mesh.client), "/metrics"));
            assertThat(value(client, "istio_tcp_sockets_open", source)).isZero();
            assertThat(client.stream().anyMatch(x -> x.name().equals("istio_tcp_sockets_open")))
                    .isTrue();
        });
    }

    @Test
    void aRemovedWorkloadLeavesNoSeriesBehind() throws Exception {
        MeshFixture mesh = startMesh();
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
        }
        await().atMost(Duration.ofSeconds(5))
                .until(() -> MeshFixture.get(MeshFixture.metrics(mesh.client), "/metrics")
                        .contains("destination_workload=\"server-a\""));
        mesh.write(MeshFixture.BASE.replaceAll("(?s)- uid: Kubernetes//Pod/server/server-a.*?(?=- uid)", ""));
        await().atMost(Duration.ofSeconds(10))
                .until(() -> mesh.client.state().current().workload("Kubernetes//Pod/server/server-a") == null);
        assertThat(MeshFixture.get(MeshFixture.metrics(mesh.client), "/metrics"))
                .doesNotContain("destination_workload=\"server-a\"");
    }

    @Test
    void theScrapeWithTrafficPassesPromtool() throws Exception {
        Path promtool = Path.of("/usr/bin/promtool");
        if (!Files.isExecutable(promtool)) {
            // .ci/run installs it (Debian's prometheus package), so in CI its absence is a failure; elsewhere the
            // test is reported as skipped, with the reason, rather than passing without checking anything.
            assertThat(System.getenv("CI"))
                    .as("promtool must be installed in CI (.ci/run installs the prometheus package)")
                    .isNotEqualTo("true");
            assumeTrue(false, "promtool not installed (apt-get install -y prometheus)");
        }
        MeshFixture mesh = startMesh();
        try (Socket s = mesh.connect("127.10.0.1", 80)) {
            MeshFixture.banner(s);
        }
        String scrape = MeshFixture.get(MeshFixture.metrics(mesh.client), "/metrics");
        Process p = new ProcessBuilder(promtool.toString(), "check", "metrics")
                .redirectErrorStream(true)
                .start();
        p.getOutputStream().write(scrape.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        // Istio's own names end in _count for gauges; promtool's linter dislikes that and nothing else may remain.
        List<String> problems = out.lines()
                .filter(l -> !l.isBlank())
                .filter(l -> !l.contains("workload_manager_active_proxy_count")
                        && !l.contains("workload_manager_pending_proxy_count"))
                .toList();
        assertThat(problems).isEmpty();
    }

    @Test
    void adminEndpointsAnswerOnLoopbackOnly() throws Exception {
        MeshFixture mesh = startMesh();
        InetSocketAddress admin = MeshFixture.admin(mesh.client);
        assertThat(admin.getAddress().isLoopbackAddress()).isTrue();
        JsonNode dump = new ObjectMapper().readTree(MeshFixture.get(admin, "/config_dump"));
        assertThat(dump.get("workloads")).hasSize(3);
        assertThat(dump.get("certificates").isArray()).isTrue();
        assertThat(dump.get("config").get("proxyMode").asText()).isEqualTo("Dedicated");
        // Any method, pretty JSON without a trailing newline, as upstream.
        var posted = MeshFixture.http(admin, "/config_dump", "POST");
        assertThat(posted.statusCode()).isEqualTo(200);
        assertThat(posted.headers().firstValue("content-type")).hasValue("application/json");
        assertThat(posted.body()).startsWith("{\n  \"certificates\": ").endsWith("\n}");
        var quitByGet = MeshFixture.http(admin, "/quitquitquit", "GET");
        assertThat(quitByGet.statusCode()).isEqualTo(405);
        assertThat(quitByGet.body()).isEmpty();
        var unknown = MeshFixture.http(admin, "/nope", "GET");
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(unknown.body()).isEmpty();
        assertThat(MeshFixture.http(MeshFixture.readiness(mesh.client), "/healthz/ready", "GET")
                        .body())
                .isEqualTo("ready\n");

        InetAddress external = nonLoopbackAddress();
        if (external != null) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(external, admin.getPort()), 2000);
                throw new AssertionError("admin port reachable on " + external);
            } catch (IOException expected) {
                // refused: good
            }
        }
    }

    @Test
    void aLiveDumpIsReadByTheIndependentClientWithStaticConfigFromTheLocalFile() throws Exception {
        MeshFixture mesh = startMesh();
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
        }
        String text = MeshFixture.get(MeshFixture.admin(mesh.client), "/config_dump");
        JsonNode read = ConfigDumpClient.check(text);
        assertThat(read.get("workloads").asInt()).isEqualTo(3);
        assertThat(read.get("services").asInt()).isPositive();
        assertThat(read.get("certificates").asInt()).isPositive();
        assertThat(read.get("certs").asInt()).isPositive();
        JsonNode dump = new ObjectMapper().readTree(text);
        // The local file is the static config, in its own schema.
        assertThat(dump.get("staticConfig").get("workloads")).hasSize(3);
        assertThat(dump.get("staticConfig")
                        .get("workloads")
                        .get(0)
                        .get("services")
                        .isObject())
                .isTrue();
        assertThat(dump.has("workloadState")).isFalse(); // dedicated mode
    }

    /** A dedicated-mode daemon on 127.0.0.9 with an empty local config, the local CA and ports picked freely. */
    private Map<String, String> dedicatedEnv() {
        Map<String, String> env = new HashMap<>();
        env.put("PROXY_MODE", "dedicated");
        env.put("PROXY_WORKLOAD_INFO", "default/app/default");
        env.put("PROXY_BIND_ADDRESS", "127.0.0.9");
        env.put("LOCAL_XDS", "workloads: []");
        env.put("XDS_ADDRESS", "");
        env.put("CA_ADDRESS", "");
        env.put("LOCAL_CA_DIR", dir.resolve("ca").toString());
        env.put("ADMIN_PORT", "0");
        env.put("STATS_PORT", "0");
        env.put("READINESS_PORT", "0");
        return env;
    }

    /** The dump's resolver settings are this machine's resolv.conf: each server over UDP then TCP, its options. */
    private static void assertDumpShowsTheSystemResolvers(JsonNode config) {
        ResolvConf system = ResolvConf.read(ResolvConf.SYSTEM);
        JsonNode servers = config.get("dnsResolverCfg").get("name_servers");
        assertThat(servers).hasSize(2 * system.nameservers().size());
        for (int i = 0; i < system.nameservers().size(); i++) {
            String ip = system.nameservers().get(i).getAddress().getHostAddress();
            assertThat(servers.get(2 * i).get("socket_addr").asText()).contains(ip.contains(":") ? "[" : ip);
            assertThat(servers.get(2 * i).get("protocol").asText()).isEqualTo("udp");
            assertThat(servers.get(2 * i + 1).get("protocol").asText()).isEqualTo("tcp");
        }
        assertThat(config.get("dnsResolverOpts").get("timeout").get("secs").asLong())
                .isEqualTo(system.timeout().getSeconds());
        assertThat(config.get("dnsResolverOpts").get("attempts").asInt()).isEqualTo(system.attempts());
    }

    @Test
    void withTheProxyDisabledNoProxyListenerStartsAndTheDumpSaysSo() throws Exception {
        Map<String, String> env = dedicatedEnv();
        env.put("ISTIO_META_DNS_PROXY_ADDR", "127.0.0.9:0");
        env.put("ENABLE_PROXY", "false");
        Daemon daemon = Daemon.start(Config.from(new Env(env)));
        try {
            assertThat(daemon.proxies()).isEmpty();
            JsonNode config = new ObjectMapper()
                    .readTree(MeshFixture.get(MeshFixture.admin(daemon), "/config_dump"))
                    .get("config");
            assertThat(config.get("proxy").asBoolean()).isFalse();
            assertThat(config.get("dnsProxy").asBoolean()).isTrue();
            // The DNS proxy's upstreams are the resolv.conf the daemon read.
            assertDumpShowsTheSystemResolvers(config);
            assertThat(MeshFixture.http(MeshFixture.readiness(daemon), "/healthz/ready", "GET")
                            .statusCode())
                    .isEqualTo(200);
        } finally {
            daemon.close();
        }
    }

    @Test
    void withoutDnsCaptureTheDumpStillShowsTheSystemResolvers() throws Exception {
        Map<String, String> env = dedicatedEnv();
        env.put("ISTIO_META_DNS_CAPTURE", "false");
        Daemon daemon = Daemon.start(Config.from(new Env(env)));
        try {
            JsonNode config = new ObjectMapper()
                    .readTree(MeshFixture.get(MeshFixture.admin(daemon), "/config_dump"))
                    .get("config");
            assertThat(config.get("dnsProxy").asBoolean()).isFalse();
            // Upstream reads resolv.conf whatever DNS capture says; so does the dump.
            assertDumpShowsTheSystemResolvers(config);
        } finally {
            daemon.close();
        }
    }

    @Test
    void quitquitquitAnswersAtOnceAndTheDrainFollows() throws Exception {
        MeshFixture mesh = startMesh();
        var answer = MeshFixture.http(MeshFixture.admin(mesh.client), "/quitquitquit", "POST");
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.body()).isEqualTo("shutdown now\n");
        assertThat(mesh.client.awaitStopped(Duration.ofSeconds(30))).isTrue();
    }

    @Test
    void loggingAnswersAsUpstreamListingAppendingResettingAndRefusing() throws Exception {
        MeshFixture mesh = startMesh();
        InetSocketAddress admin = MeshFixture.admin(mesh.client);
        try {
            var get = MeshFixture.http(admin, "/logging", "GET");
            assertThat(get.statusCode()).isEqualTo(405);
            assertThat(get.body()).isEqualTo("Invalid HTTP method\n " + LOGGING_HELP);
            assertThat(MeshFixture.http(admin, "/logging", "POST").body())
                    .isEqualTo("current log level is hickory_server::server=off,info\n");
            assertThat(MeshFixture.http(admin, "/logging?level=debug", "POST").body())
                    .isEqualTo("current log level is hickory_server::server=off,debug\n");
            assertThat(MeshFixture.http(admin, "/logging?reset", "POST").body())
                    .isEqualTo("current log level is hickory_server::server=off,info\n");
            assertThat(MeshFixture.http(admin, "/logging?level=access=debug", "POST")
                            .body())
                    .isEqualTo("current log level is hickory_server::server=off,access=debug,info\n");
            assertThat(MeshFixture.http(admin, "/logging?level=ztunnel::proxy=trace", "POST")
                            .body())
                    .isEqualTo(
                            "current log level is hickory_server::server=off,ztunnel::proxy=trace,access=debug,info\n");
            assertThat(LoggerFactory.getLogger("io.ztunnel.core.proxy.Outbound").isTraceEnabled())
                    .isTrue();
            for (String bad : List.of("access:debug", "INFO", "warning")) {
                var refused = MeshFixture.http(admin, "/logging?level=" + bad, "POST");
                assertThat(refused.statusCode()).isEqualTo(400);
                assertThat(refused.body()).isEqualTo("Invalid level provided: " + bad + "\n" + LOGGING_HELP);
            }
            assertThat(MeshFixture.http(admin, "/logging?reset&level=warn", "POST")
                            .body())
                    .isEqualTo("current log level is hickory_server::server=off,warn\n");
            assertThat(LoggerFactory.getLogger("io.ztunnel.core.proxy.Outbound").isInfoEnabled())
                    .isFalse();
        } finally {
            LogConfig.uninstall();
        }
    }

    @Test
    void debugConnectionsListsLiveConnectionsAndAuthorizeExplainsDecisions() throws Exception {
        MeshFixture mesh = startMesh();
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
            JsonNode live =
                    new ObjectMapper().readTree(MeshFixture.get(MeshFixture.admin(mesh.server), "/debug/connections"));
            assertThat(live).hasSize(1);
            assertThat(live.get(0).get("direction").asText()).isEqualTo("inbound");
            assertThat(live.get(0).get("srcIdentity").asText()).isEqualTo("spiffe://cluster.local/ns/client/sa/client");
            assertThat(live.get(0).get("decision").asText()).isEqualTo("no allow policies");
        }
        mesh.write(MeshFixture.BASE + MeshFixture.DENY_CLIENT);
        await().atMost(Duration.ofSeconds(10))
                .until(() -> mesh.client.state().current().policies().size() == 1);
        JsonNode deny = new ObjectMapper()
                .readTree(
                        MeshFixture.get(
                                MeshFixture.admin(mesh.client),
                                "/debug/authorize?src=127.0.0.2&dst=127.0.0.3&port=8080&identity=spiffe://cluster.local/ns/client/sa/client"));
        assertThat(deny.get("allowed").asBoolean()).isFalse();
        assertThat(deny.get("reason").asText()).isEqualTo("explicitly denied by: server/deny-client");
        assertThat(deny.get("policies").get(0).get("matched").asBoolean()).isTrue();
        JsonNode allow = new ObjectMapper()
                .readTree(
                        MeshFixture.get(
                                MeshFixture.admin(mesh.client),
                                "/debug/authorize?src=127.0.0.2&dst=127.0.0.3&port=8080&identity=spiffe://cluster.local/ns/other/sa/x"));
        assertThat(allow.get("allowed").asBoolean()).isTrue();
        assertThat(allow.get("policies").get(0).get("detail").asText()).isEqualTo("no rule matched");
        assertThat(MeshFixture.http(
                                MeshFixture.admin(mesh.client), "/debug/authorize?src=x&dst=127.0.0.3&port=1", "GET")
                        .statusCode())
                .isEqualTo(400);
        assertThat(MeshFixture.get(MeshFixture.admin(mesh.client), "/debug/threads"))
                .contains("ztunnel-dp");
    }

    private static @Nullable InetAddress nonLoopbackAddress() throws IOException {
        for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (!nic.isUp() || nic.isLoopback()) {
                continue;
            }
            for (InetAddress a : Collections.list(nic.getInetAddresses())) {
                if (a instanceof Inet4Address) {
                    return a;
                }
            }
        }
        return null;
    }
}
