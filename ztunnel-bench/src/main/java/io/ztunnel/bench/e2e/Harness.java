package io.ztunnel.bench.e2e;

import io.ztunnel.core.app.LogConfig;
import io.ztunnel.core.demo.Dnsmasq;
import io.ztunnel.core.demo.LocalMesh;
import io.ztunnel.core.demo.ManagedProcess;
import io.ztunnel.core.demo.Shell;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The end-to-end benchmark (issue 8): the topology of the namespaced tests (two nodes, node agents, two ztunnel
 * daemons, real in-pod capture) and, on the same two nodes, a pair of pods outside the mesh for the direct baseline
 * and for stunnel (Debian's package) as an mTLS TCP tunnel. Every figure is measured on the three paths in the same
 * run and reported with the ratio to the direct baseline. The load generator ({@link LoadGen}) and the server
 * ({@link BenchServer}) are separate processes inside the pods' namespaces.
 *
 * <p>Run through {@code ./bench} (root). Options: {@code --quick}, {@code --out DIR}, {@code --only a,b} (tput, rr,
 * rate, cps, fresh, cpu, idle, ready, dns, ceiling), {@code --jfr} (daemons record JFR), {@code --daemon-jvm
 * "flags"} (added to the launcher's). The daemons and node agents run through the shipped launchers ({@code
 * bin/ztunnel}: the daemon's own jar, its JVM defaults and AOT cache; {@code bin/ztunnel-node-agent}), so the figures
 * are those of the shipped configuration. {@code ceiling} (not part of a default run) holds as many idle connections
 * as the file descriptor limit lets one daemon hold and reports what each memory area took.
 */
public final class Harness {
    private static final int APP_PORT = 8080;
    private static final int STUNNEL_SERVER_PORT = 8443;
    private static final int STUNNEL_CLIENT_PORT = 9000;

    private final boolean quick;
    private final Path out;
    private final Set<String> only;
    private final boolean jfr;
    private final List<String> daemonJvm;
    private final Results results;
    private final List<Process> helpers = new ArrayList<>();
    private final List<ManagedProcess> servers = new ArrayList<>();

    private Harness(boolean quick, Path out, Set<String> only, boolean jfr, List<String> daemonJvm) {
        this.quick = quick;
        this.out = out;
        this.only = only;
        this.jfr = jfr;
        this.daemonJvm = daemonJvm;
        this.results = new Results(quick);
    }

    public static void main(String[] args) throws Exception {
        boolean quick = false;
        boolean jfr = false;
        Path out = Path.of("ztunnel-bench/target/results");
        Set<String> only = new TreeSet<>();
        String daemonJvm = System.getenv().getOrDefault("BENCH_DAEMON_JVM", "");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> quick = true;
                case "--jfr" -> jfr = true;
                case "--pause" -> only.add("pause");
                case "--out" -> out = Path.of(args[++i]);
                case "--only" -> only.addAll(Arrays.asList(args[++i].split(",")));
                case "--daemon-jvm" -> daemonJvm = args[++i];
                default -> {
                    System.err.println("usage: bench [--quick] [--out DIR] [--only"
                            + " tput,rr,rate,cps,fresh,cpu,idle,ready,dns,ceiling]"
                            + " [--jfr] [--daemon-jvm \"flags\"]");
                    System.exit(2);
                }
            }
        }
        if (!"root".equals(System.getProperty("user.name"))) {
            System.err.println("bench: needs root (network namespaces, iptables)");
            System.exit(1);
        }
        LogConfig.configure("warn", false);
        Files.createDirectories(out);
        List<String> jvm =
                daemonJvm.isBlank() ? List.of() : List.of(daemonJvm.trim().split("\\s+"));
        long t0 = System.nanoTime();
        new Harness(quick, out.toAbsolutePath(), only, jfr, jvm).run();
        System.out.printf(Locale.ROOT, "bench: done in %.0f s%n", (System.nanoTime() - t0) / 1e9);
        System.exit(0);
    }

    private boolean wants(String figure) {
        return only.isEmpty() ? !figure.equals("ceiling") : only.contains(figure);
    }

    private double secs(double full, double fast) {
        return quick ? fast : full;
    }

    private void run() throws Exception {
        results.header(launcherJvmFlags(), daemonJvm);
        Path dir = Files.createTempDirectory("ztunnel-bench-");
        log("mesh under " + dir + "; daemon JVM flags: " + daemonJvm);
        LocalMesh mesh = startMesh(dir, Map.of());
        try {
            Pods pods = new Pods(mesh);
            String[] daemons = {pid(dir, "node1"), pid(dir, "node2")};
            Thread.sleep(quick ? 1000 : 3000);
            for (int i = 0; i < 2; i++) {
                results.put("rss_idle_node" + (i + 1), "MiB", rssMiB(daemons[i]), null, null);
            }
            startServers(mesh, dir);
            Stunnel stunnel = Stunnel.start(dir, pods, APP_PORT, STUNNEL_SERVER_PORT, STUNNEL_CLIENT_PORT, helpers);
            Endpoint direct = new Endpoint(pods.plainClientNs, pods.plainServerIp, APP_PORT);
            Endpoint meshed = new Endpoint(pods.clientNs, pods.serverIp, APP_PORT);
            Endpoint tunneled = new Endpoint(pods.plainClientNs, "127.0.0.1", STUNNEL_CLIENT_PORT);
            if (only.contains("pause")) { // keep the mesh up for exploration; Ctrl-C tears it down
                log("paused: client netns " + pods.clientNs + " -> " + pods.serverIp + ":" + APP_PORT + "; plain "
                        + pods.plainClientNs + " -> " + pods.plainServerIp + "; stunnel 127.0.0.1:"
                        + STUNNEL_CLIENT_PORT + "; dir " + dir);
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    stopHelpers();
                    mesh.close();
                }));
                Thread.sleep(600_000);
            }
            if (wants("tput") || wants("rr")) {
                coldFigures(direct, meshed);
            }
            // JIT warm-up of the daemons and of stunnel's caches; not counted
            for (Endpoint e : List.of(meshed, tunneled)) {
                loadgen(e, "tput", "2", quick ? "1" : "3", "up");
                loadgen(e, "rr", quick ? "1000" : "2000", quick ? "1000" : "2000", "1024");
            }
            if (wants("tput") || wants("cpu")) {
                double s = secs(10, 2);
                double[] allocated0 = allocatedBytes(mesh);
                double relayed = 0;
                for (String dirn : List.of("up", "down")) {
                    String name = "tput1_" + dirn;
                    double d = gbps(loadgen(direct, "tput", "1", str(s), dirn));
                    long[] cpu0 = cpu(daemons);
                    long[] st0 = cpu(stunnel.pids());
                    Map<String, String> m = loadgen(meshed, "tput", "1", str(s), dirn);
                    long[] cpu1 = cpu(daemons);
                    Map<String, String> t = loadgen(tunneled, "tput", "1", str(s), dirn);
                    long[] st1 = cpu(stunnel.pids());
                    results.put(name, "Gbit/s", gbps(m), d, gbps(t));
                    relayed += Double.parseDouble(m.get("bytes"));
                    if (dirn.equals("up")) {
                        double meshGib = Double.parseDouble(m.get("bytes")) / (1L << 30);
                        results.put(
                                "cpu_s_per_gib_node1", "CPU s/GiB", (cpu1[0] - cpu0[0]) / 100.0 / meshGib, null, null);
                        results.put(
                                "cpu_s_per_gib_node2", "CPU s/GiB", (cpu1[1] - cpu0[1]) / 100.0 / meshGib, null, null);
                        double stGib = Double.parseDouble(t.get("bytes")) / (1L << 30);
                        results.put(
                                "cpu_s_per_gib_two_daemons",
                                "CPU s/GiB",
                                (cpu1[0] - cpu0[0] + cpu1[1] - cpu0[1]) / 100.0 / meshGib,
                                null,
                                (st1[0] - st0[0] + st1[1] - st0[1]) / 100.0 / stGib);
                    }
                }
                for (String dirn : List.of("up", "down")) {
                    Map<String, String> m = loadgen(meshed, "tput", "8", str(s), dirn);
                    relayed += Double.parseDouble(m.get("bytes"));
                    results.put(
                            "tput8_" + dirn,
                            "Gbit/s",
                            gbps(m),
                            gbps(loadgen(direct, "tput", "8", str(s), dirn)),
                            gbps(loadgen(tunneled, "tput", "8", str(s), dirn)));
                }
                double[] allocated1 = allocatedBytes(mesh);
                double perMib = (allocated1[0] - allocated0[0] + allocated1[1] - allocated0[1]) / (relayed / (1 << 20));
                results.put("alloc_bytes_per_mib", "B/MiB", perMib, null, null);
                results.note(
                        "alloc_bytes_per_mib",
                        String.format(
                                Locale.ROOT,
                                "Java heap allocated by both daemons (jvm_gc_memory_allocated_bytes_total, counted at"
                                        + " each young collection, so coarse) over the warm throughput runs: %.1f MiB"
                                        + " for %.0f MiB relayed",
                                (allocated1[0] - allocated0[0] + allocated1[1] - allocated0[1]) / (1 << 20),
                                relayed / (1 << 20)));
            }
            if (wants("rr")) {
                String samples = quick ? "3000" : "20000";
                String warm = quick ? "1000" : "2000";
                Map<String, String> d = loadgen(direct, "rr", samples, warm, "1024");
                Map<String, String> m = loadgen(meshed, "rr", samples, warm, "1024");
                Map<String, String> t = loadgen(tunneled, "rr", samples, warm, "1024");
                for (String p : List.of("p50", "p90", "p99")) {
                    results.put("rr_closed_" + p, "µs", num(m, p), num(d, p), num(t, p));
                }
            }
            if (wants("rate")) {
                String s = str(secs(10, 2));
                Map<String, String> d = loadgen(direct, "rate", "1000", s, "1024");
                Map<String, String> m = loadgen(meshed, "rate", "1000", s, "1024");
                Map<String, String> t = loadgen(tunneled, "rate", "1000", s, "1024");
                for (String p : List.of("p50", "p90", "p99")) {
                    results.put("rr_open1000_" + p, "µs", num(m, p), num(d, p), num(t, p));
                }
            }
            if (wants("cps")) {
                String s = str(secs(5, 2));
                // new-stream paths are JIT-compiled only once connections churn: warm them up first, not counted
                loadgen(meshed, "cps", "4", str(secs(10, 2)));
                loadgen(tunneled, "cps", "4", "1");
                double d = num(loadgen(direct, "cps", "4", s), "perSecond");
                long opens0 = activeOpens(pods.clientNs);
                Map<String, String> m = loadgen(meshed, "cps", "4", s);
                long dials = activeOpens(pods.clientNs) - opens0 - attempts(m);
                double t = num(loadgen(tunneled, "cps", "4", s), "perSecond");
                results.put("cps_pooled", "conn/s", num(m, "perSecond"), d, t);
                results.note(
                        "cps_pooled",
                        "HBONE dials during the pooled run: " + dials + " for " + attempts(m)
                                + " connections; stunnel column: a full TLS 1.3 handshake per connection (no resumption)");
            }
            if (wants("idle")) {
                int n = quick ? 1000 : 10_000;
                long[] before = {rssKiB(daemons[0]), rssKiB(daemons[1])};
                try (Holder h = Holder.open(meshed, n)) {
                    Thread.sleep(quick ? 1000 : 3000);
                    int open = h.open;
                    for (int i = 0; i < 2; i++) {
                        long after = rssKiB(daemons[i]);
                        results.put("rss_idle_conns_node" + (i + 1), "MiB", after / 1024.0, before[i] / 1024.0, null);
                        results.put(
                                "rss_per_idle_conn_node" + (i + 1),
                                "KiB",
                                (after - before[i]) / (double) open,
                                null,
                                null);
                    }
                    results.note(
                            "rss_per_idle_conn_node1",
                            open + " of " + n + " connections held open through both daemons (" + h.failed
                                    + " failed); the baseline column of rss_idle_conns_* is the RSS before opening them");
                }
            }
            if (wants("dns")) {
                dnsFigures(mesh, dir, pods);
            }
            if (wants("ceiling")) {
                ceiling(meshed, daemons);
            }
            if (wants("ready")) {
                int runs = quick ? 1 : 3;
                double[] ms = new double[runs];
                for (int i = 0; i < runs; i++) {
                    mesh.stopDaemon("node2");
                    long t0 = System.nanoTime();
                    mesh.startDaemon("node2");
                    while (true) {
                        try {
                            if (mesh.http("node2", 15021, "/healthz/ready").startsWith("HTTP/1.1 200")) {
                                break;
                            }
                        } catch (IOException e) {
                            // not listening yet
                        }
                        if (System.nanoTime() - t0 > 60e9) {
                            throw new IllegalStateException("node2 not ready after 60 s");
                        }
                        Thread.sleep(5);
                    }
                    ms[i] = (System.nanoTime() - t0) / 1e6;
                }
                Arrays.sort(ms);
                results.put("ready_ms", "ms", ms[runs / 2], null, null);
                results.note(
                        "ready_ms",
                        "process start (ip netns exec + JVM) to /healthz/ready 200 with its pods' proxies"
                                + " up, in-pod mode; median of " + runs + ": " + Arrays.toString(ms));
                Thread.sleep(quick ? 1000 : 3000);
                results.put("rss_idle_fresh_start_node2", "MiB", rssMiB(pid(dir, "node2")), null, null);
            }
        } finally {
            stopHelpers();
            mesh.close();
        }
        // a second mesh costs ~30 s: --quick leaves it out unless asked for by name
        if (quick ? only.contains("fresh") : wants("fresh")) {
            freshTls();
        }
        results.write(out);
        System.out.println(Files.readString(out.resolve("results.md")));
    }

    /**
     * The DNS proxy: queries/s answered from the state (the meshed client's queries to its resolver are captured and
     * answered by its node's daemon) against dnsmasq answering a local name directly; and the latency of a query the
     * proxy forwards to that dnsmasq against the same query sent to dnsmasq directly from the plain client.
     */
    private void dnsFigures(LocalMesh mesh, Path dir, Pods pods) throws Exception {
        String resolver = mesh.pod("plain-server").ip();
        helpers.add(Dnsmasq.start(pods.plainServerNs, resolver, dir, List.of()));
        Endpoint meshed = new Endpoint(pods.clientNs, resolver, 53);
        Endpoint direct = new Endpoint(pods.plainClientNs, resolver, 53);
        String local = "web.mesh.svc.cluster.local";
        String external = "external.example";
        Thread.sleep(500);
        loadgen(meshed, "dns", local, "4", "1"); // warm-up, not counted
        loadgen(meshed, "dns", external, "1", "1");
        String s = str(secs(10, 2));
        Map<String, String> m = loadgen(meshed, "dns", local, "4", s);
        Map<String, String> d = loadgen(direct, "dns", external, "4", s);
        results.put("dns_local_qps", "queries/s", num(m, "perSecond"), num(d, "perSecond"), null);
        results.note(
                "dns_local_qps",
                "4 outstanding UDP queries; mesh: answered from the state by the client pod's DNS proxy (failures "
                        + m.get("failures") + "); baseline: dnsmasq answering a local name, queried directly");
        Map<String, String> f = loadgen(meshed, "dns", external, "1", s);
        Map<String, String> fd = loadgen(direct, "dns", external, "1", s);
        for (String p : List.of("p50", "p90", "p99")) {
            results.put("dns_forwarded_" + p, "µs", num(f, p), num(fd, p), null);
        }
        results.note(
                "dns_forwarded_p50",
                "one outstanding query for a name only dnsmasq knows: through the proxy (forwarded from inside the pod)"
                        + " vs straight to dnsmasq; added latency at p50: "
                        + str(num(f, "p50") - num(fd, "p50")) + " µs");
    }

    /**
     * Figures of daemons in their first seconds, before any warm-up (a daemon is judged right after a restart too):
     * one and eight connections upload for 2 s each, and the closed-loop latency tail over 1,000 samples; each against
     * the direct path measured right after it.
     */
    private void coldFigures(Endpoint direct, Endpoint meshed) throws Exception {
        if (wants("tput")) {
            for (String n : List.of("1", "8")) {
                Map<String, String> m = loadgen(meshed, "tput", n, "2.0", "up");
                results.put(
                        "tput" + n + "_up_cold",
                        "Gbit/s",
                        gbps(m),
                        gbps(loadgen(direct, "tput", n, "2.0", "up")),
                        null);
            }
        }
        if (wants("rr")) {
            Map<String, String> m = loadgen(meshed, "rr", "1000", "0", "1024");
            Map<String, String> d = loadgen(direct, "rr", "1000", "0", "1024");
            results.put("rr_closed_p99_cold", "µs", num(m, "p99"), num(d, "p99"), null);
        }
    }

    /** Each daemon's {@code jvm_gc_memory_allocated_bytes_total}, from its metrics port in its node's namespace. */
    private static double[] allocatedBytes(LocalMesh mesh) throws IOException {
        double[] bytes = new double[2];
        for (int i = 0; i < 2; i++) {
            String page = mesh.http("node" + (i + 1), 15020, "/metrics");
            bytes[i] = page.lines()
                    .filter(l -> l.startsWith("jvm_gc_memory_allocated_bytes_total"))
                    .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
                    .sum();
        }
        return bytes;
    }

    /** New connections/s when every proxied connection dials its own HBONE connection (a full TLS handshake). */
    private void freshTls() throws Exception {
        Path dir = Files.createTempDirectory("ztunnel-bench-fresh-");
        log("second mesh, no HBONE pooling (POOL_MAX_STREAMS_PER_CONNECTION=1, POOL_UNUSED_RELEASE_TIMEOUT=0)");
        LocalMesh mesh =
                startMesh(dir, Map.of("POOL_MAX_STREAMS_PER_CONNECTION", "1", "POOL_UNUSED_RELEASE_TIMEOUT", "0"));
        try {
            Pods pods = new Pods(mesh);
            startServers(mesh, dir);
            Endpoint meshed = new Endpoint(pods.clientNs, pods.serverIp, APP_PORT);
            Endpoint direct = new Endpoint(pods.plainClientNs, pods.plainServerIp, APP_PORT);
            // JIT warm-up of the dial path, not counted (-Dbench.fresh.warmup=<seconds> to change it)
            loadgen(meshed, "cps", "4", System.getProperty("bench.fresh.warmup", str(secs(10, 3))));
            String s = str(secs(5, 2));
            double d = num(loadgen(direct, "cps", "4", s), "perSecond");
            long opens0 = activeOpens(pods.clientNs);
            Map<String, String> m = loadgen(meshed, "cps", "4", s);
            long dials = activeOpens(pods.clientNs) - opens0 - attempts(m);
            results.put("cps_fresh_tls", "conn/s", num(m, "perSecond"), d, null);
            results.handshakesPerConnection((double) dials / attempts(m));
            results.note(
                    "cps_fresh_tls",
                    "HBONE dials (TLS handshakes) " + dials + " for " + attempts(m)
                            + " connections (an idle connection may be reused before its close timer fires)");
        } finally {
            stopHelpers();
            mesh.close();
        }
    }

    /**
     * The memory ceiling: idle proxied connections held through both daemons, as many as one process's file
     * descriptors allow (each daemon has one socket per connection; the hard {@code RLIMIT_NOFILE} here is 20,000 and
     * cannot be raised), opened by several load generators. Reports RSS per daemon with the JVM's own areas (heap used
     * after a full collection, Netty's direct memory, the rest) before and while holding, per connection, and what
     * 50,000 connections take at that rate on top of the idle daemon.
     */
    private void ceiling(Endpoint meshed, String[] daemons) throws Exception {
        long limit = fdLimit(daemons[0]);
        int n = (int) Math.min(Integer.getInteger("bench.ceiling.connections", 50_000), limit - 1_000);
        int perProcess = 9_000;
        Map<String, Memory> before = new LinkedHashMap<>();
        for (int i = 0; i < 2; i++) {
            breakdown(daemons[i], out.resolve("breakdown-idle-node" + (i + 1) + ".txt"));
            before.put(daemons[i], memory(daemons[i]));
        }
        List<Holder> holders = new ArrayList<>();
        int open = 0;
        int failed = 0;
        try {
            for (int left = n; left > 0; left -= perProcess) {
                Holder h = Holder.open(meshed, Math.min(perProcess, left));
                holders.add(h);
                open += h.open;
                failed += h.failed;
            }
            Thread.sleep(3000);
            for (int i = 0; i < 2; i++) {
                breakdown(daemons[i], out.resolve("breakdown-held-node" + (i + 1) + ".txt"));
            }
            for (int i = 0; i < 2; i++) {
                String node = "node" + (i + 1);
                Memory b = Objects.requireNonNull(before.get(daemons[i]), "baseline");
                Memory a = memory(daemons[i]);
                double perConnKiB = (a.rss() - b.rss()) * 1024 / open;
                results.put("ceiling_rss_" + node, "MiB", a.rss(), b.rss(), null);
                results.put("ceiling_heap_used_" + node, "MiB", a.heap(), b.heap(), null);
                results.put("ceiling_direct_" + node, "MiB", a.direct(), b.direct(), null);
                results.put("ceiling_rss_per_conn_" + node, "KiB", perConnKiB, null, null);
                results.put("ceiling_rss_at_50000_" + node, "MiB", b.rss() + perConnKiB * 50_000 / 1024, null, null);
            }
            results.note(
                    "ceiling_rss_node1",
                    open + " idle connections held through both daemons (" + failed + " failed; asked for " + n
                            + ", the file descriptor limit of one process is " + limit
                            + "); baseline column: before opening them; heap: used after a full collection");
        } finally {
            for (Holder h : holders) {
                h.close();
            }
        }
    }

    /**
     * Where a daemon's memory is, written to {@code file}: RSS by mapping (anonymous, the AOT cache, libjvm, ...) from
     * {@code /proc/<pid>/smaps}, the JVM's own areas (NMT summary), the thread names and the class count.
     */
    private static void breakdown(String pid, Path file) throws Exception {
        Map<String, long[]> byMapping = new TreeMap<>();
        String name = null;
        for (String line : Files.readAllLines(Path.of("/proc", pid, "smaps"))) {
            if (line.matches("^[0-9a-f]+-[0-9a-f]+ .*")) {
                String[] f = line.trim().split("\\s+");
                name = f.length > 5 ? f[5] : "[anon]";
            } else if (line.startsWith("Rss:") || line.startsWith("Private_Dirty:")) {
                long kb = Long.parseLong(line.replaceAll("\\D", ""));
                byMapping.computeIfAbsent(name, k -> new long[2])[line.startsWith("Rss:") ? 0 : 1] += kb;
            }
        }
        StringBuilder text = new StringBuilder("RSS by mapping (KiB: rss, private dirty), largest first\n");
        byMapping.entrySet().stream()
                .sorted((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0]))
                .limit(15)
                .forEach(e -> text.append(
                        String.format(Locale.ROOT, "%8d %8d  %s%n", e.getValue()[0], e.getValue()[1], e.getKey())));
        List<String> threads = new ArrayList<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc", pid, "task"))) {
            for (Path t : tasks.toList()) {
                threads.add(Files.readString(t.resolve("comm")).trim());
            }
        }
        Collections.sort(threads);
        text.append("\nthreads (").append(threads.size()).append("): ").append(String.join(", ", threads));
        text.append("\n\nclasses: ")
                .append(jcmd(pid, "VM.classes").lines().count() - 2)
                .append("\n\n")
                .append(jcmd(pid, "VM.native_memory summary"));
        Files.writeString(file, text);
    }

    /** The hard open-file limit of a process. */
    private static long fdLimit(String pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", pid, "limits"))) {
            if (line.startsWith("Max open files")) {
                return Long.parseLong(line.substring(26).trim().split("\\s+")[1]);
            }
        }
        return 1024;
    }

    /** RSS, heap used after a full collection, and direct memory of a daemon, in MiB (jcmd). */
    /** A daemon's memory in MiB: resident set, heap used after a full collection, NMT's "Other" (direct buffers). */
    private record Memory(double rss, double heap, double direct) {}

    private static Memory memory(String pid) throws Exception {
        double rss = rssMiB(pid);
        jcmd(pid, "GC.run");
        String heap = jcmd(pid, "GC.heap_info");
        double used = 0;
        Matcher u = Pattern.compile("total \\d+K, used (\\d+)K").matcher(heap);
        while (u.find()) {
            used += Long.parseLong(u.group(1)) / 1024.0;
        }
        String direct = jcmd(pid, "VM.native_memory summary");
        Matcher d =
                Pattern.compile("Other \\(reserved=\\d+KB, committed=(\\d+)KB").matcher(direct);
        return new Memory(rss, used, d.find() ? Long.parseLong(d.group(1)) / 1024.0 : Double.NaN);
    }

    private static String jcmd(String pid, String command) throws Exception {
        List<String> cmd = new ArrayList<>(
                List.of(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(), pid));
        cmd.addAll(Arrays.asList(command.split(" ")));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(60, TimeUnit.SECONDS);
        return out;
    }

    /** The JVM flags bin/ztunnel gives the daemon (its defaults, the AOT cache when there is one). */
    private static List<String> launcherJvmFlags() throws Exception {
        ProcessBuilder pb = new ProcessBuilder("bin/ztunnel").redirectErrorStream(true);
        pb.environment().put("ZTUNNEL_PRINT_JVM_OPTS", "1");
        pb.environment().remove("ZTUNNEL_JAVA_OPTS");
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        p.waitFor(30, TimeUnit.SECONDS);
        return out.isEmpty() ? List.of() : List.of(out.split("\\s+"));
    }

    private static long attempts(Map<String, String> r) {
        return Long.parseLong(r.get("attempts")); // every connect of the run, warm-up included
    }

    private LocalMesh startMesh(Path dir, Map<String, String> extraEnv) throws Exception {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("ZTUNNEL_WORKER_THREADS", "2"); // the product default on a machine with up to 8 CPUs
        env.putAll(extraEnv);
        List<String> jvm = new ArrayList<>(daemonJvm);
        if (only.contains("ceiling")) {
            jvm.add("-XX:NativeMemoryTracking=summary"); // direct memory is NMT's "Other"
        }
        if (jfr) {
            jvm.add("-XX:StartFlightRecording=settings=profile,dumponexit=true,filename=" + out + "/"
                    + dir.getFileName() + "-%p.jfr");
        }
        Map<String, Map<String, String>> ns =
                Map.of("mesh", Map.of(LocalMesh.DATAPLANE_MODE, "ambient"), "plain", Map.of());
        long t0 = System.nanoTime();
        LocalMesh mesh = LocalMesh.start(
                dir,
                List.of("node1", "node2"),
                List.of(
                        new LocalMesh.PodSpec("client", "mesh", "client", "node1", 2, Map.of("app", "client")),
                        new LocalMesh.PodSpec("server", "mesh", "server", "node2", 2, Map.of("app", "server")),
                        new LocalMesh.PodSpec("plain-client", "plain", "default", "node1", 3, Map.of()),
                        new LocalMesh.PodSpec("plain-server", "plain", "default", "node2", 3, Map.of())),
                ns,
                // a service for the DNS figure (answered from the state by the client pod's DNS proxy)
                List.of(new LocalMesh.ServiceSpec("web", "mesh", 1, 80, APP_PORT, List.of("server"))),
                env,
                jvm,
                // every namespace (the daemons' included) resolves with dnsmasq in the plain server pod
                m -> "nameserver " + m.pod("plain-server").ip() + "\n",
                LocalMesh.Launch.launchers(Path.of("").toAbsolutePath()));
        log(String.format(Locale.ROOT, "mesh ready in %.1f s", (System.nanoTime() - t0) / 1e9));
        // The test pods' own TCP settings (same for every path): many short connections to one destination.
        for (String pod : List.of("client", "server", "plain-client", "plain-server")) {
            String netns = mesh.pod(pod).netns();
            Shell.inNetns(netns, "sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000");
            Shell.inNetns(netns, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1");
        }
        return mesh;
    }

    private void startServers(LocalMesh mesh, Path dir) throws Exception {
        for (String pod : List.of("server", "plain-server")) {
            ManagedProcess p = ManagedProcess.start(
                    "app-" + pod,
                    mesh.pod(pod).netns(),
                    BenchServer.class.getName(),
                    List.of(mesh.pod(pod).ip(), String.valueOf(APP_PORT)),
                    Map.of(),
                    List.of("-XX:+UseSerialGC", "-Xmx1g"),
                    dir.resolve("app-" + pod + ".log"));
            servers.add(p);
            long end = System.nanoTime() + 30_000_000_000L;
            while (!p.output().contains("listening")) {
                if (!p.isAlive() || System.nanoTime() > end) {
                    throw new IllegalStateException("server app in " + pod + " did not start: " + p.output());
                }
                Thread.sleep(50);
            }
        }
    }

    private void stopHelpers() {
        for (Process p : helpers) {
            p.destroy();
        }
        helpers.clear();
        for (ManagedProcess p : servers) {
            p.stop(5);
        }
        servers.clear();
    }

    /** Where a load generator runs (a pod's netns name) and what it connects to. */
    record Endpoint(String netns, String host, int port) {}

    /** The four pods: mesh client/server (ambient) and the plain pair on the same nodes. */
    static final class Pods {
        final String clientNs;
        final String serverIp;
        final String serverNs;
        final String plainClientNs;
        final String plainServerIp;
        final String plainServerNs;

        Pods(LocalMesh mesh) {
            clientNs = mesh.pod("client").netns();
            serverIp = mesh.pod("server").ip();
            serverNs = mesh.pod("server").netns();
            plainClientNs = mesh.pod("plain-client").netns();
            plainServerIp = mesh.pod("plain-server").ip();
            plainServerNs = mesh.pod("plain-server").netns();
        }
    }

    static List<String> javaCommand(String netns, String mainClass, List<String> args) {
        List<String> cmd = new ArrayList<>(List.of(
                "ip",
                "netns",
                "exec",
                netns,
                ProcessHandle.current().info().command().orElse("java"),
                "-XX:+UseSerialGC",
                "-Xmx512m",
                "-cp",
                System.getProperty("java.class.path"),
                mainClass));
        cmd.addAll(args);
        return cmd;
    }

    /** Runs one load generator to completion; its RESULT line as a map. */
    private Map<String, String> loadgen(Endpoint e, String mode, String... args) throws Exception {
        List<String> a = new ArrayList<>(List.of(mode, e.host(), String.valueOf(e.port())));
        a.addAll(List.of(args));
        Process p = new ProcessBuilder(javaCommand(e.netns(), LoadGen.class.getName(), a))
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IllegalStateException("load generator " + a + " failed: " + output);
        }
        Map<String, String> r = new LinkedHashMap<>();
        for (String line : output.lines().toList()) {
            if (line.startsWith("RESULT ")) {
                for (String kv : line.substring(7).split(" ")) {
                    int eq = kv.indexOf('=');
                    r.put(kv.substring(0, eq), kv.substring(eq + 1));
                }
            }
        }
        log(mode + " " + String.join(" ", args) + " -> " + e.host() + ":" + e.port() + "  " + r);
        return r;
    }

    /** Idle connections held open by a load generator until closed. */
    static final class Holder implements AutoCloseable {
        final Process process;
        final int open;
        final int failed;

        private Holder(Process process, int open, int failed) {
            this.process = process;
            this.open = open;
            this.failed = failed;
        }

        static Holder open(Endpoint e, int n) throws IOException {
            Process p = new ProcessBuilder(javaCommand(
                            e.netns(),
                            LoadGen.class.getName(),
                            List.of("hold", e.host(), String.valueOf(e.port()), String.valueOf(n))))
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start();
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            String line;
            while ((line = r.readLine()) != null && !line.startsWith("HELD")) {
                // skip
            }
            log("hold " + n + ": " + line);
            if (line == null) {
                throw new IOException("hold failed");
            }
            String[] f = line.split(" ");
            return new Holder(p, Integer.parseInt(f[1].substring(5)), Integer.parseInt(f[2].substring(7)));
        }

        @Override
        public void close() throws Exception {
            OutputStream in = process.getOutputStream();
            in.write('\n');
            in.flush();
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }

    private static double gbps(Map<String, String> r) {
        return num(r, "gbps");
    }

    private static double num(Map<String, String> r, String key) {
        String v = r.get(key);
        return v == null ? Double.NaN : Double.parseDouble(v);
    }

    private static String str(double d) {
        return String.format(Locale.ROOT, "%.1f", d);
    }

    /** The daemon of a node of the mesh under {@code dir}: the java process with its config path and node name. */
    static String pid(Path dir, String node) throws IOException {
        String config = "LOCAL_XDS_PATH=" + dir.resolve("mesh.yaml");
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+"))
                    .toList()) {
                try {
                    String cmd = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8);
                    if (!cmd.contains("io.ztunnel.core.app.Main")) {
                        continue;
                    }
                    List<String> env = Arrays.asList(
                            new String(Files.readAllBytes(p.resolve("environ")), StandardCharsets.UTF_8).split("\0"));
                    if (env.contains(config) && env.contains("NODE_NAME=" + node)) {
                        return p.getFileName().toString();
                    }
                } catch (IOException gone) {
                    // exited while listing
                }
            }
        }
        throw new IllegalStateException("no daemon process for " + node);
    }

    /** utime + stime in clock ticks (100/s) of each process. */
    static long[] cpu(String[] pids) throws IOException {
        long[] ticks = new long[pids.length];
        for (int i = 0; i < pids.length; i++) {
            String stat = Files.readString(Path.of("/proc", pids[i], "stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            ticks[i] = Long.parseLong(f[11]) + Long.parseLong(f[12]);
        }
        return ticks;
    }

    static long rssKiB(String pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", pid, "status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        throw new IOException("no VmRSS for " + pid);
    }

    static double rssMiB(String pid) throws IOException {
        return rssKiB(pid) / 1024.0;
    }

    /** TCP active opens (connects) made inside a namespace so far. */
    static long activeOpens(String netns) {
        String snmp = Shell.inNetns(netns, "cat", "/proc/net/snmp");
        List<String> tcp = snmp.lines().filter(l -> l.startsWith("Tcp:")).toList();
        List<String> names = Arrays.asList(tcp.get(0).split(" "));
        return Long.parseLong(tcp.get(1).split(" ")[names.indexOf("ActiveOpens")]);
    }

    static void log(String text) {
        System.out.println("[" + Instant.now().toString().substring(11, 19) + "] " + text);
        System.out.flush();
    }
}
