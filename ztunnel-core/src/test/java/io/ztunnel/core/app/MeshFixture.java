package io.ztunnel.core.app;

import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.Env;
import io.ztunnel.core.testing.TestApps;
import java.io.IOException;
import java.io.InputStream;
import java.net.Inet6Address;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * Two daemons in dedicated mode on loopback: "client" (127.0.0.2, SOCKS5 on) and "server-a" (127.0.0.3), sharing a
 * local CA and one local config file; apps: server-a's echo behind daemon B at 127.0.0.3:8080 (HBONE), and server-b
 * at 127.0.0.5:8080 (plain TCP, no daemon). Service {@code echo.server} at VIP 127.10.0.1:80 has both as endpoints.
 */
final class MeshFixture implements AutoCloseable {
    static final String BASE = """
            workloads:
            - uid: Kubernetes//Pod/client/client
              name: client
              namespace: client
              serviceAccount: client
              trustDomain: cluster.local
              workloadIps: ["127.0.0.2"]
              protocol: HBONE
              services: {}
            - uid: Kubernetes//Pod/server/server-a
              name: server-a
              namespace: server
              serviceAccount: server-a
              trustDomain: cluster.local
              workloadIps: ["127.0.0.3"]
              protocol: HBONE
              canonicalName: echo
              canonicalRevision: v1
              services:
                "server/echo.server.svc.cluster.local": {80: 8080}
            - uid: Kubernetes//Pod/server/server-b
              name: server-b
              namespace: server
              serviceAccount: server-b
              trustDomain: cluster.local
              workloadIps: ["127.0.0.5"]
              protocol: TCP
              services:
                "server/echo.server.svc.cluster.local": {80: 8080}
            services:
            - name: echo
              namespace: server
              hostname: echo.server.svc.cluster.local
              vips: ["/127.10.0.1"]
              ports: {80: 8080}
            """;

    static final String DENY_CLIENT = """
            policies:
            - name: deny-client
              namespace: server
              scope: Namespace
              action: Deny
              dryRun: false
              rules: [[[{principals: [{Exact: "cluster.local/ns/client/sa/client"}]}]]]
            """;

    final Path dir;
    final Path configFile;
    final TestApps.Server appA;
    final TestApps.Server appB;
    final Daemon client;
    final Daemon server;
    final int socksPort;

    MeshFixture(Path dir, Map<String, String> serverExtra) throws Exception {
        this(dir, Map.of(), serverExtra);
    }

    /** As above, with extra environment for the client daemon too. */
    MeshFixture(Path dir, Map<String, String> clientExtra, Map<String, String> serverExtra) throws Exception {
        this.dir = dir;
        this.configFile = dir.resolve("mesh.yaml");
        write(BASE);
        appA = banner("server-a", new InetSocketAddress("127.0.0.3", 8080));
        appB = banner("server-b", new InetSocketAddress("127.0.0.5", 8080));
        socksPort = freePort();
        Map<String, String> clientEnv = new HashMap<>(clientExtra);
        clientEnv.put("UNSTABLE_ENABLE_SOCKS5", "true");
        clientEnv.put("SOCKS5_PORT", String.valueOf(socksPort));
        client = Daemon.start(config("client/client/client", "127.0.0.2", clientEnv));
        server = Daemon.start(config("server/server-a/server-a", "127.0.0.3", serverExtra));
    }

    Config config(String workload, String ip, Map<String, String> extra) {
        Map<String, String> env = new HashMap<>();
        env.put("PROXY_MODE", "dedicated");
        env.put("PROXY_WORKLOAD_INFO", workload);
        env.put("PROXY_BIND_ADDRESS", ip);
        env.put("LOCAL_XDS_PATH", configFile.toString());
        // The embedded local config and CA: upstream's defaults would be istiod on localhost.
        env.put("XDS_ADDRESS", "");
        env.put("CA_ADDRESS", "");
        env.put("LOCAL_CA_DIR", dir.resolve("ca").toString());
        env.put("ADMIN_PORT", "0");
        env.put("STATS_PORT", "0");
        env.put("READINESS_PORT", "0");
        env.put("ZTUNNEL_WORKER_THREADS", "1");
        env.putAll(extra);
        return Config.from(new Env(env));
    }

    /** An app that writes its name and a newline, then echoes. */
    static TestApps.Server banner(String name, InetSocketAddress bind) throws IOException {
        return new TestApps.Server(bind, s -> {
            try {
                s.getOutputStream().write((name + "\n").getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                InputStream in = s.getInputStream();
                byte[] buf = new byte[64 * 1024];
                int n;
                while ((n = in.read(buf)) >= 0) {
                    s.getOutputStream().write(buf, 0, n);
                }
                s.shutdownOutput();
            } catch (IOException ignored) {
                // peer went away
            }
        });
    }

    /** Replaces the config file atomically (as an editor or ConfigMap update would). */
    void write(String yaml) throws IOException {
        Path tmp = Files.createTempFile(dir, ".mesh", ".yaml");
        Files.writeString(tmp, yaml);
        Files.move(tmp, configFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** A client socket through daemon A's SOCKS5 listener to {@code ip:port}. */
    Socket connect(String ip, int port) throws IOException {
        Socket s = new Socket(new Proxy(Proxy.Type.SOCKS, new InetSocketAddress("127.0.0.2", socksPort)));
        s.setSoTimeout(10_000);
        s.connect(new InetSocketAddress(ip, port), 10_000);
        return s;
    }

    /** Reads the first line the app sends (its name), or null when the connection closed first. */
    static @Nullable String banner(Socket s) throws IOException {
        StringBuilder line = new StringBuilder();
        InputStream in = s.getInputStream();
        int c;
        while ((c = in.read()) >= 0 && c != '\n') {
            line.append((char) c);
        }
        return c < 0 && line.isEmpty() ? null : line.toString();
    }

    /** The daemon's metrics listener; fails the test when it has none. */
    static InetSocketAddress metrics(Daemon daemon) {
        return Objects.requireNonNull(daemon.metricsAddress(), "the daemon has no metrics listener");
    }

    /** The daemon's admin listener; fails the test when it has none. */
    static InetSocketAddress admin(Daemon daemon) {
        return Objects.requireNonNull(daemon.adminAddress(), "the daemon has no admin listener");
    }

    /** The daemon's readiness listener; fails the test when it has none. */
    static InetSocketAddress readiness(Daemon daemon) {
        return Objects.requireNonNull(daemon.readinessAddress(), "the daemon has no readiness listener");
    }

    static String get(InetSocketAddress address, String path) throws Exception {
        return http(address, path, "GET").body();
    }

    static HttpResponse<String> http(InetSocketAddress address, String path, String method) throws Exception {
        try (HttpClient client = HttpClient.newHttpClient()) {
            String host = address.getAddress().isAnyLocalAddress()
                    ? "127.0.0.1"
                    : address.getAddress() instanceof Inet6Address
                            ? "[" + address.getAddress().getHostAddress() + "]"
                            : address.getAddress().getHostAddress();
            return client.send(
                    HttpRequest.newBuilder(new URI("http://" + host + ":" + address.getPort() + path))
                            .method(method, HttpRequest.BodyPublishers.noBody())
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Override
    public void close() throws Exception {
        client.close();
        server.close();
        appA.close();
        appB.close();
    }
}
