package io.ztunnel.core.inpod;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ztunnel.cni.testing.RequiresNetns;
import io.ztunnel.core.demo.LocalMesh;
import io.ztunnel.core.demo.ManagedProcess;
import io.ztunnel.core.demo.Shell;
import io.ztunnel.core.testing.EchoServerMain;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Soaks on real network namespaces (two nodes, node agents and daemons as processes), each followed by a check that
 * the daemons' and node agents' resources are back at their baseline.
 *
 * <p><b>Pod churn with traffic</b>: pods on node1 are enrolled and removed over and over (the node
 * agent captures them, the daemon starts and stops their proxies, the mesh config lists and drops them), each time
 * carrying connections through the mesh to a service on both nodes and holding one open across its removal. Then the
 * daemon's and the node agent's resources must be back at their baseline: file descriptors, threads, live pod
 * proxies and state listeners (counted in a class histogram, which runs a full GC first), metric series, and RSS.
 *
 * <p><b>Connections held</b>: a pod on node1 holds {@code soak.connections} connections to a pod on node2 through both
 * daemons, each one proven by an echo; all are released; then the same resources must be back and the connection
 * metrics balance (as many closed as opened, on both nodes).
 *
 * <p>The normal suite runs short soaks ({@code churn.cycles} default 25 cycles of 3 pods, {@code soak.connections}
 * default 1,000); the long ones are {@code -Dchurn.cycles=2000 -Dsoak.connections=10000} (see README "Reliability").
 */
@RequiresNetns(tools = {"iptables", "nsenter"})
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 6, unit = TimeUnit.HOURS)
class SoakNetnsTest {
    private static final Logger log = LoggerFactory.getLogger(SoakNetnsTest.class);
    private static final Map<String, String> AMBIENT = Map.of(LocalMesh.DATAPLANE_MODE, "ambient");
    private static final int CYCLES = Integer.getInteger("churn.cycles", 25);
    private static final int CONNECTIONS = Integer.getInteger("soak.connections", 1000);
    private static final int WARMUP = 5;
    /** Slack for things that come and go on their own: pooled HBONE connections, ForkJoin and GC threads. */
    private static final int FD_SLACK = 8;

    private static final int THREAD_SLACK = 4;
    /**
     * A generous bound: RSS grows while the JIT compiles and the heap (up to -Xmx192m) expands, then levels off (300
     * cycles here: +36 MiB after 100, +52 after 200, +53 after 300); leaks are caught by the exact counts.
     */
    private static final long RSS_SLACK_KIB = 96 * 1024;
    /**
     * Live heap after a full GC may differ by what is allocated lazily and kept (a pool thread's buffers, a cache
     * filled on first use); a leak of a few KiB per pod or connection exceeds it over the long soaks.
     */
    private static final long HEAP_SLACK_KIB = 16 * 1024;

    private final List<LocalMesh.PodSpec> churned = List.of(
            new LocalMesh.PodSpec("churn1", "churn", "churner", "node1", 10, Map.of()),
            new LocalMesh.PodSpec("churn2", "churn", "churner", "node1", 11, Map.of()),
            new LocalMesh.PodSpec("churn3", "churn", "churner", "node1", 12, Map.of()));

    private LocalMesh mesh;
    private final ExecutorService apps = Executors.newVirtualThreadPerTaskExecutor();
    private final List<ServerSocket> listeners = new CopyOnWriteArrayList<>();

    @BeforeAll
    void startMesh() throws Exception {
        Path dir = Files.createTempDirectory("churn-mesh");
        List<LocalMesh.PodSpec> pods = new ArrayList<>(List.of(
                new LocalMesh.PodSpec("client", "apps", "client", "node1", 2, Map.of()),
                new LocalMesh.PodSpec("server1", "apps", "server", "node1", 3, Map.of("app", "web")),
                new LocalMesh.PodSpec("server2", "apps", "server", "node2", 2, Map.of("app", "web"))));
        pods.addAll(churned);
        mesh = LocalMesh.start(
                dir,
                List.of("node1", "node2"),
                pods,
                Map.of("apps", AMBIENT, "churn", AMBIENT),
                List.of(new LocalMesh.ServiceSpec("web", "apps", 1, 80, 8080, List.of("server1", "server2"))),
                Map.of("RUST_LOG", "info"),
                List.of(
                        "-Xmx192m",
                        "-XX:+UseSerialGC",
                        "-Dio.netty.leakDetection.level=paranoid",
                        "-XX:NativeMemoryTracking=summary"));
        for (String pod : List.of("server1", "server2")) {
            serve(pod);
        }
        for (LocalMesh.PodSpec p : churned) {
            mesh.removePod(p.name());
        }
        for (LocalMesh.PodSpec p : churned) {
            awaitGone(p.name());
        }
    }

    @AfterAll
    void stopMesh() {
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

    @Test
    void podsEnrolledAndRemovedOverAndOverLeaveNothingBehind() throws Exception {
        for (int i = 0; i < WARMUP; i++) {
            cycle(i);
        }
        Resources daemonBefore = resources(mesh.daemon("node1"));
        Resources agentBefore = resources(agent());
        int seriesBefore = series();
        log.atInfo()
                .addKeyValue("daemon", daemonBefore)
                .addKeyValue("agent", agentBefore)
                .addKeyValue("series", seriesBefore)
                .log("churn baseline");
        long start = System.nanoTime();
        for (int i = 0; i < CYCLES; i++) {
            cycle(WARMUP + i);
            if ((i + 1) % 100 == 0) {
                Resources now = resources(mesh.daemon("node1"));
                Map<String, Long> nativeMemory =
                        nativeMemory(mesh.daemon("node1").pid());
                log.atInfo()
                        .addKeyValue("cycles", i + 1)
                        .addKeyValue("daemon", now)
                        .addKeyValue("nmtCommittedKiB", nativeMemory)
                        .log("churn progress");
                System.out.printf(
                        "churn progress: %d cycles; daemon %s; NMT committed KiB %s%n", i + 1, now, nativeMemory);
            }
        }
        long seconds = (System.nanoTime() - start) / 1_000_000_000L;
        // Things that end on their own (pooled connections, idle pool threads) get time to do so.
        Resources[] after = new Resources[2];
        await().atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofSeconds(2))
                .untilAsserted(() -> {
                    after[0] = resources(mesh.daemon("node1"));
                    after[1] = resources(agent());
                    assertBack("daemon", daemonBefore, after[0]);
                    assertBack("agent", agentBefore, after[1]);
                });
        int seriesAfter = series();
        log.atInfo()
                .addKeyValue("cycles", CYCLES)
                .addKeyValue("pods", churned.size())
                .addKeyValue("seconds", seconds)
                .addKeyValue("daemonBefore", daemonBefore)
                .addKeyValue("daemonAfter", after[0])
                .addKeyValue("agentBefore", agentBefore)
                .addKeyValue("agentAfter", after[1])
                .addKeyValue("seriesBefore", seriesBefore)
                .addKeyValue("seriesAfter", seriesAfter)
                .log("churn done");
        System.out.printf(
                "churn: %d cycles x %d pods in %d s; daemon %s -> %s; agent %s -> %s; metric series %d -> %d%n",
                CYCLES,
                churned.size(),
                seconds,
                daemonBefore,
                after[0],
                agentBefore,
                after[1],
                seriesBefore,
                seriesAfter);
        assertThat(seriesAfter)
                .as("metric series: the same pods again add none, removed ones keep theirs as upstream's do")
                .isEqualTo(seriesBefore);
    }

    /** An echo server in a separate process (its own descriptor limit) in {@code pod}'s namespace. */
    private Process echoServer(String pod, int port) throws Exception {
        Process p = new ProcessBuilder(
                        "ip",
                        "netns",
                        "exec",
                        mesh.pod(pod).netns(),
                        ProcessHandle.current().info().command().orElse("java"),
                        "-Xmx256m",
                        "-XX:+UseSerialGC",
                        "-cp",
                        System.getProperty("java.class.path"),
                        EchoServerMain.class.getName(),
                        mesh.pod(pod).ip(),
                        Integer.toString(port))
                .redirectErrorStream(true)
                .start();
        String first = p.inputReader(StandardCharsets.UTF_8).readLine();
        assertThat(first).as("echo server started").isEqualTo("listening");
        return p;
    }

    /** The sum over all series of a counter in the node's /metrics. */
    private long counter(String node, String name) throws IOException {
        String response = mesh.http(node, 15020, "/metrics");
        long sum = 0;
        for (String l : response.lines().toList()) {
            if (l.startsWith(name + "{") || l.startsWith(name + " ")) {
                sum += (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }

    @Test
    void manyConnectionsHeldThroughBothDaemonsAndReleasedLeaveNothingBehind() throws Exception {
        Process echo = echoServer("server2", 9090);
        String server = mesh.pod("server2").ip();
        try {
            // Warm-up: the first connection sets up the pooled HBONE connection and loads the classes.
            try (Socket s = connect("client", server, 9090)) {
                s.getOutputStream().write('w');
                assertThat(s.getInputStream().read()).isEqualTo('w');
            }
            await().atMost(Duration.ofSeconds(20))
                    .until(() -> counter("node2", "istio_tcp_connections_closed_total")
                            == counter("node2", "istio_tcp_connections_opened_total"));
            Resources node1Before = resources(mesh.daemon("node1"));
            Resources node2Before = resources(mesh.daemon("node2"));
            long opened1 = counter("node1", "istio_tcp_connections_opened_total");
            long closed1 = counter("node1", "istio_tcp_connections_closed_total");
            long opened2 = counter("node2", "istio_tcp_connections_opened_total");
            long closed2 = counter("node2", "istio_tcp_connections_closed_total");
            List<Socket> held = new ArrayList<>(CONNECTIONS);
            long start = System.nanoTime();
            Resources node1Held;
            Resources node2Held;
            try {
                for (int i = 0; i < CONNECTIONS; i++) {
                    Socket s = connect("client", server, 9090);
                    held.add(s);
                    s.getOutputStream().write(i & 0x7f);
                    assertThat(s.getInputStream().read())
                            .as("echo on connection %d", i)
                            .isEqualTo(i & 0x7f);
                }
                node1Held = resources(mesh.daemon("node1"));
                node2Held = resources(mesh.daemon("node2"));
                assertThat(node1Held.fds())
                        .as("node1 holds a socket per captured connection")
                        .isGreaterThanOrEqualTo(node1Before.fds() + CONNECTIONS);
                assertThat(node2Held.fds())
                        .as("node2 holds a socket per connection to the server")
                        .isGreaterThanOrEqualTo(node2Before.fds() + CONNECTIONS);
                assertThat(counter("node1", "istio_tcp_connections_opened_total") - opened1)
                        .isEqualTo(CONNECTIONS);
                assertThat(counter("node2", "istio_tcp_connections_opened_total") - opened2)
                        .isEqualTo(CONNECTIONS);
            } finally {
                for (Socket s : held) {
                    s.close();
                }
            }
            long seconds = (System.nanoTime() - start) / 1_000_000_000L;
            Resources[] after = new Resources[2];
            await().atMost(Duration.ofSeconds(90))
                    .pollInterval(Duration.ofSeconds(2))
                    .untilAsserted(() -> {
                        assertThat(counter("node1", "istio_tcp_connections_closed_total") - closed1)
                                .as("node1 closed every connection it opened")
                                .isEqualTo(CONNECTIONS);
                        assertThat(counter("node2", "istio_tcp_connections_closed_total") - closed2)
                                .as("node2 closed every connection it opened")
                                .isEqualTo(CONNECTIONS);
                        after[0] = resources(mesh.daemon("node1"));
                        after[1] = resources(mesh.daemon("node2"));
                        assertBack("node1 daemon", node1Before, after[0]);
                        assertBack("node2 daemon", node2Before, after[1]);
                    });
            log.atInfo()
                    .addKeyValue("connections", CONNECTIONS)
                    .addKeyValue("seconds", seconds)
                    .addKeyValue("node1Before", node1Before)
                    .addKeyValue("node1Held", node1Held)
                    .addKeyValue("node1After", after[0])
                    .addKeyValue("node2Before", node2Before)
                    .addKeyValue("node2Held", node2Held)
                    .addKeyValue("node2After", after[1])
                    .log("held connections done");
            System.out.printf(
                    "held: %d connections opened and released in %d s; node1 %s -> %s -> %s; node2 %s -> %s -> %s%n",
                    CONNECTIONS, seconds, node1Before, node1Held, after[0], node2Before, node2Held, after[1]);
        } finally {
            echo.destroy();
            echo.waitFor();
        }
    }

    private static void assertBack(String who, Resources before, Resources after) {
        assertThat(after.podProxies())
                .as(who + " live pod proxies (LocalWorkload)")
                .isEqualTo(before.podProxies());
        assertThat(after.stateListeners()).as(who + " StateStore listeners").isEqualTo(before.stateListeners());
        assertThat(after.fds()).as(who + " file descriptors").isLessThanOrEqualTo(before.fds() + FD_SLACK);
        assertThat(after.threads()).as(who + " threads").isLessThanOrEqualTo(before.threads() + THREAD_SLACK);
        assertThat(after.rssKib())
                .as(who + " RSS KiB after a full GC")
                .isLessThanOrEqualTo(before.rssKib() + RSS_SLACK_KIB);
        assertThat(after.heapLiveKib())
                .as(who + " live heap KiB after a full GC")
                .isLessThanOrEqualTo(before.heapLiveKib() + HEAP_SLACK_KIB);
    }

    /** One cycle: all churned pods enrolled, traffic through each, one connection held across the removal. */
    private void cycle(int n) throws Exception {
        for (LocalMesh.PodSpec p : churned) {
            mesh.addPod(p);
        }
        List<Socket> held = new ArrayList<>();
        try {
            for (LocalMesh.PodSpec p : churned) {
                awaitUp(p.name());
            }
            for (LocalMesh.PodSpec p : churned) {
                String ip = mesh.pod(p.name()).ip();
                // The VIP has no route outside the mesh: an answer proves the pod's outbound proxy carried it.
                await().atMost(Duration.ofSeconds(20)).until(() -> banner(p.name(), mesh.vip(1), 80) != null);
                String direct = banner(p.name(), mesh.pod("server2").ip(), 8080);
                assertThat(direct).as("cycle %d %s to server2", n, p.name()).isEqualTo("server2 " + ip);
                Socket s = connect(p.name(), mesh.pod("server1").ip(), 8080);
                held.add(s);
                assertThat(line(s)).isEqualTo("server1 " + ip);
                s.setSoTimeout(200); // a read timeout means "not closed yet"
            }
            for (LocalMesh.PodSpec p : churned) {
                mesh.removePod(p.name());
            }
            for (Socket s : held) {
                await().atMost(Duration.ofSeconds(20))
                        .pollInterval(Duration.ZERO)
                        .until(() -> InpodMeshNetnsTest.closedByPeer(s));
            }
            for (LocalMesh.PodSpec p : churned) {
                awaitGone(p.name());
            }
        } finally {
            for (Socket s : held) {
                s.close();
            }
        }
    }

    private void awaitUp(String pod) {
        String uid = "churn-" + pod; // the node agent names a pod namespace-name
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            JsonNode state = configDump("node1").get("workloadState").get(uid);
            return state != null && state.get("state").asText().equals("Up") && captured(pod);
        });
    }

    private void awaitGone(String pod) {
        String uid = "churn-" + pod; // the node agent names a pod namespace-name
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            JsonNode dump = configDump("node1");
            boolean inState = dump.get("workloadState").has(uid);
            boolean inWorkloads = dump.get("workloads").toString().contains("\"" + pod + "\"");
            return !inState && !inWorkloads && !captured(pod);
        });
    }

    private boolean captured(String pod) throws Exception {
        return Shell.inNetns(mesh.pod(pod).netns(), "iptables-save").contains("ISTIO_OUTPUT");
    }

    private JsonNode configDump(String node) throws IOException {
        String response = mesh.http(node, 15000, "/config_dump");
        assertThat(response).as("config_dump answer").startsWith("HTTP/1.1 200");
        return new ObjectMapper().readTree(response.substring(response.indexOf("\r\n\r\n") + 4));
    }

    /** Series (sample lines) in node1's /metrics. */
    private int series() throws IOException {
        String response = mesh.http("node1", 15020, "/metrics");
        String body = response.substring(response.indexOf("\r\n\r\n") + 4);
        return (int)
                body.lines().filter(l -> !l.isBlank() && !l.startsWith("#")).count();
    }

    private ManagedProcess agent() {
        // The node agent's process: the mesh's log file names it; found among this JVM's children by its netns.
        return mesh.agent("node1");
    }

    private Socket connect(String pod, String ip, int port) throws IOException {
        return mesh.netns(pod).call(() -> {
            Socket s = new Socket();
            s.connect(new InetSocketAddress(ip, port), 10_000);
            s.setSoTimeout(10_000);
            return s;
        });
    }

    private static @Nullable String line(Socket s) throws IOException {
        StringBuilder sb = new StringBuilder();
        int c;
        while ((c = s.getInputStream().read()) >= 0 && c != '\n') {
            sb.append((char) c);
        }
        return c < 0 && sb.isEmpty() ? null : sb.toString();
    }

    private @Nullable String banner(String from, String ip, int port) {
        try (Socket s = connect(from, ip, port)) {
            return line(s);
        } catch (IOException e) {
            return null;
        }
    }

    /** A process's resources; the object counts come from a class histogram, which first runs a full GC. */
    record Resources(long fds, long threads, long rssKib, long heapLiveKib, long podProxies, long stateListeners) {
        @Override
        public String toString() {
            return "fds=" + fds + " threads=" + threads + " rssKiB=" + rssKib + " heapLiveKiB=" + heapLiveKib
                    + " podProxies=" + podProxies + " stateListeners=" + stateListeners;
        }
    }

    private static Resources resources(ManagedProcess process) throws Exception {
        long pid = process.pid();
        String histogram = jcmd(pid, "GC.class_histogram");
        long proxies = instances(histogram, "io.ztunnel.core.proxy.LocalWorkload");
        long stateListeners = instances(histogram, "io.ztunnel.core.state.StateStore$Listener");
        long fds;
        try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            fds = s.count();
        }
        long threads;
        try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/task"))) {
            threads = s.count();
        }
        long rss = 0;
        for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (l.startsWith("VmRSS:")) {
                rss = Long.parseLong(l.replaceAll("[^0-9]", ""));
            }
        }
        Matcher total =
                Pattern.compile("^Total\\s+\\d+\\s+(\\d+)", Pattern.MULTILINE).matcher(histogram);
        assertThat(total.find()).as("class histogram total: %s", histogram).isTrue();
        long heapLive = Long.parseLong(total.group(1)) / 1024;
        return new Resources(fds, threads, rss, heapLive, proxies, stateListeners);
    }

    /**
     * Committed native memory by category from Native Memory Tracking (the soak's daemons run with it), in KiB, the
     * total first; it tells a growing RSS apart: heap, metaspace, code cache, thread stacks, or "Other" (direct
     * buffers, BoringSSL's mallocs are not tracked) and the gap to RSS (malloc arenas, untracked native memory).
     */
    private static Map<String, Long> nativeMemory(long pid) throws Exception {
        String summary = jcmd(pid, "VM.native_memory summary");
        Map<String, Long> committed = new LinkedHashMap<>();
        Matcher total = Pattern.compile("^Total: reserved=\\d+KB, committed=(\\d+)KB", Pattern.MULTILINE)
                .matcher(summary);
        if (total.find()) {
            committed.put("Total", Long.parseLong(total.group(1)));
        }
        Matcher malloc =
                Pattern.compile("^\\s+malloc: (\\d+)KB", Pattern.MULTILINE).matcher(summary);
        if (malloc.find()) {
            committed.put("malloc", Long.parseLong(malloc.group(1)));
        }
        Matcher m = Pattern.compile("^-\\s+(.+?) \\(reserved=\\d+KB, committed=(\\d+)KB\\)", Pattern.MULTILINE)
                .matcher(summary);
        while (m.find()) {
            committed.put(m.group(1).trim(), Long.parseLong(m.group(2)));
        }
        return committed;
    }

    private static long instances(String histogram, String className) {
        Matcher m = Pattern.compile(
                        "^\\s*\\d+:\\s+(\\d+)\\s+\\d+\\s+" + Pattern.quote(className) + "(\\s|$)", Pattern.MULTILINE)
                .matcher(histogram);
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }

    private static String jcmd(long pid, String command) throws Exception {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), command)
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as("jcmd %s: %s", command, out).isZero();
        return out;
    }
}
