package io.ztunnel.core.demo;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The training run behind the daemon's AOT cache ({@code bin/ztunnel-aot-train}, the image build): starts one
 * dedicated-mode daemon through its launcher with {@code -XX:AOTCacheOutput}, on loopback with the local CA, and
 * drives what a node proxy does in its first minutes, so the cache holds those classes, linked, with their method
 * profiles: readiness and admin requests, a metrics scrape, and proxied connections through SOCKS5, outbound, HBONE
 * (TLS 1.3, HTTP/2 CONNECT) to its own inbound listener and on to an echo app, plus plain TCP passthrough to a
 * workload outside the mesh. Then {@code /quitquitquit}; the JVM writes the cache as it exits.
 *
 * <p>In-pod mode (ZDS, pod network namespaces) needs capabilities an image build does not have, so its few classes
 * load from the jar at run time. Runs in its own JVM (from {@code ztunnel.jar}), so none of its classes land in the
 * cache. Single-threaded except the echo app's accept thread and one thread per echo connection.
 */
public final class AotTraining {
    private static final String APP_IP = "127.0.0.66";
    private static final String PLAIN_IP = "127.0.0.67";
    private static final int CONNECTIONS = 300;

    private AotTraining() {}

    /** {@code AotTraining <daemon launcher> <cache file>}; exit status 1 with a line on stderr when it fails. */
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: AotTraining <bin/ztunnel> <cache file>");
            System.exit(2);
        }
        Path launcher = Path.of(args[0]);
        Path cache = Path.of(args[1]).toAbsolutePath();
        Path dir = Files.createTempDirectory("ztunnel-aot-training-");
        try (Echo app = Echo.start(new InetSocketAddress(APP_IP, 0));
                Echo plain = Echo.start(new InetSocketAddress(PLAIN_IP, 0))) {
            Files.writeString(dir.resolve("mesh.yaml"), config(), StandardCharsets.UTF_8);
            int[] ports = freePorts(4);
            int admin = ports[0];
            int readiness = ports[1];
            int stats = ports[2];
            int socks = ports[3];
            Map<String, String> env = new LinkedHashMap<>();
            env.put("PATH", System.getenv().getOrDefault("PATH", "/usr/bin:/bin"));
            copy(env, "JAVA_HOME", "ZTUNNEL_DAEMON_JAR", "MALLOC_ARENA_MAX");
            env.put("PROXY_MODE", "dedicated");
            env.put("PROXY_WORKLOAD_INFO", "aot-training/app/app");
            env.put("PROXY_BIND_ADDRESS", APP_IP);
            env.put("LOCAL_XDS_PATH", dir.resolve("mesh.yaml").toString());
            env.put("LOCAL_CA_DIR", dir.resolve("ca").toString());
            env.put("XDS_ADDRESS", "");
            env.put("CA_ADDRESS", "");
            env.put("OUTBOUND_PORT", "0");
            env.put("INBOUND_PLAINTEXT_PORT", "0");
            env.put("INBOUND_HBONE_PORT", "15008");
            env.put("UNSTABLE_ENABLE_SOCKS5", "true");
            env.put("SOCKS5_PORT", String.valueOf(socks));
            env.put("ADMIN_PORT", String.valueOf(admin));
            env.put("READINESS_PORT", String.valueOf(readiness));
            env.put("STATS_PORT", String.valueOf(stats));
            env.put("CONNECTION_TERMINATION_DEADLINE", "0s");
            env.put("ZTUNNEL_AOT_CACHE", "none");
            env.put(
                    "ZTUNNEL_JAVA_OPTS",
                    ("-XX:AOTCacheOutput=" + cache + " "
                                    + System.getenv().getOrDefault("ZTUNNEL_AOT_TRAINING_OPTS", ""))
                            .trim());
            Files.deleteIfExists(cache);
            Path log = dir.resolve("daemon.log");
            ProcessBuilder builder = new ProcessBuilder(launcher.toString(), "proxy", "aot-training")
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile());
            builder.environment().clear();
            builder.environment().putAll(env);
            Process daemon = builder.start();
            try {
                awaitReady(daemon, readiness, log);
                for (int i = 0; i < CONNECTIONS; i++) {
                    proxied(socks, app.port(), APP_IP, i % 50 == 0 ? 256 * 1024 : 1024);
                    if (i % 10 == 0) {
                        proxied(socks, plain.port(), PLAIN_IP, 1024);
                    }
                    if (i % 100 == 0) {
                        http(admin, "GET", "/config_dump");
                        http(stats, "GET", "/metrics");
                        http(readiness, "GET", "/healthz/ready");
                    }
                }
                http(admin, "POST", "/quitquitquit");
                if (!daemon.waitFor(5, TimeUnit.MINUTES)) {
                    throw new IOException("the daemon did not exit after /quitquitquit");
                }
            } catch (IOException | RuntimeException e) {
                daemon.destroyForcibly();
                System.err.println(Files.readString(log));
                throw e;
            }
            if (!Files.isRegularFile(cache) || Files.size(cache) == 0) {
                System.err.println(Files.readString(log));
                System.err.println("ztunnel-aot-train: no cache written to " + cache);
                System.exit(1);
            }
            System.out.printf("AOT cache: %s (%d MiB)%n", cache, Files.size(cache) >> 20);
        } finally {
            deleteTree(dir);
        }
    }

    /** The daemon's own workload (HBONE, the echo app behind it) and a plain TCP workload outside the mesh. */
    private static String config() {
        return """
                workloads:
                - uid: Kubernetes//Pod/aot-training/app
                  name: app
                  namespace: aot-training
                  serviceAccount: app
                  trustDomain: cluster.local
                  workloadIps: ["%s"]
                  protocol: HBONE
                  services: {}
                - uid: Kubernetes//Pod/plain/plain
                  name: plain
                  namespace: plain
                  serviceAccount: plain
                  trustDomain: cluster.local
                  workloadIps: ["%s"]
                  protocol: TCP
                  services: {}
                """.formatted(APP_IP, PLAIN_IP);
    }

    private static void copy(Map<String, String> env, String... names) {
        for (String name : names) {
            String value = System.getenv(name);
            if (value != null) {
                env.put(name, value);
            }
        }
    }

    private static void awaitReady(Process daemon, int port, Path log) throws Exception {
        long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        while (System.nanoTime() < end) {
            if (!daemon.isAlive()) {
                throw new IOException("the daemon exited with " + daemon.exitValue());
            }
            try {
                if (http(port, "GET", "/healthz/ready").startsWith("HTTP/1.1 200")) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(100);
        }
        throw new IOException("the daemon was not ready within 5 minutes; log " + log);
    }

    /** One connection through the daemon's SOCKS5 listener: {@code bytes} sent and read back from the echo app. */
    private static void proxied(int socks, int port, String ip, int bytes) throws IOException {
        try (Socket s = new Socket(new Proxy(Proxy.Type.SOCKS, new InetSocketAddress(APP_IP, socks)))) {
            s.setSoTimeout(30_000);
            s.connect(new InetSocketAddress(ip, port), 30_000);
            byte[] data = new byte[bytes];
            Arrays.fill(data, (byte) 'z');
            OutputStream out = s.getOutputStream();
            out.write(data);
            out.flush();
            s.shutdownOutput();
            byte[] back = s.getInputStream().readAllBytes();
            if (back.length != bytes) {
                throw new IOException("echo through the daemon to " + ip + ":" + port + " returned " + back.length
                        + " of " + bytes + " bytes");
            }
        }
    }

    /** An HTTP/1.0 request to 127.0.0.1:{@code port}; the whole response. */
    private static String http(int port, String method, String path) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5000);
            s.setSoTimeout(30_000);
            s.getOutputStream()
                    .write((method + " " + path + " HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /**
     * {@code n} different ports free right now: all held open until each is known, so the kernel cannot hand out one
     * twice (it did: the SOCKS5 listener then collided with the metrics server and the training run failed).
     */
    private static int[] freePorts(int n) throws IOException {
        List<ServerSocket> held = new ArrayList<>();
        try {
            int[] ports = new int[n];
            for (int i = 0; i < n; i++) {
                ServerSocket s = new ServerSocket(0);
                held.add(s);
                ports[i] = s.getLocalPort();
            }
            return ports;
        } finally {
            for (ServerSocket s : held) {
                s.close();
            }
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** An echo app: every connection gets back what it sends, then EOF. Closing stops it. */
    private static final class Echo implements AutoCloseable {
        private final ServerSocket server;
        private final List<Socket> accepted = new ArrayList<>();

        private Echo(ServerSocket server) {
            this.server = server;
        }

        static Echo start(InetSocketAddress bind) throws IOException {
            ServerSocket server = new ServerSocket();
            server.bind(bind);
            Echo echo = new Echo(server);
            Thread.ofPlatform().daemon().name("echo-" + bind.getHostString()).start(echo::accept);
            return echo;
        }

        int port() {
            return server.getLocalPort();
        }

        private void accept() {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    synchronized (accepted) {
                        accepted.add(s);
                    }
                    Thread.ofPlatform().daemon().start(() -> echo(s));
                } catch (IOException e) {
                    return; // closed
                }
            }
        }

        private static void echo(Socket s) {
            try (s) {
                InputStream in = s.getInputStream();
                OutputStream out = s.getOutputStream();
                in.transferTo(out);
                s.shutdownOutput();
            } catch (IOException e) {
                // the client went away; nothing to do for a training app
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
            synchronized (accepted) {
                for (Socket s : accepted) {
                    s.close();
                }
            }
        }
    }
}
