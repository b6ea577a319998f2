package io.ztunnel.core.demo;

import com.sun.net.httpserver.HttpServer;
import io.ztunnel.core.app.LogConfig;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;

/**
 * The README's demo, the main job on the embedded default: a two-node ambient mesh on this machine made of network
 * namespaces, each node with a node agent and a ztunnel daemon (separate processes), the local CA, and a local
 * config; an HTTP app ({@code web}) on two pods on different nodes behind a service VIP, and a {@code client} pod.
 * It sends traffic client → service through real capture, shows that it went over mutual TLS (identities, bytes,
 * the client IP the server saw), applies a DENY policy and shows the refusal, then stays up for exploration until
 * Ctrl-C and removes every namespace and rule it made. Without a terminal (CI, a pipe) or with {@code --no-wait} it
 * tears down right after the walk-through. Exits 1 when a step did not behave (no answer through the mesh, the DENY
 * policy not enforced), so CI running it notices. Needs root.
 */
public final class DemoMain {
    private static final List<HttpServer> APPS = new ArrayList<>();
    private static final List<String> FAILURES = new ArrayList<>();

    private DemoMain() {}

    public static void main(String[] args) throws Exception {
        if (!"root".equals(System.getProperty("user.name"))) {
            System.err.println("the demo needs root (network namespaces, iptables): run it as root, e.g. sudo ./demo");
            System.exit(1);
        }
        LogConfig.configure("warn", false); // the daemons' own logs go to files
        Path dir = Files.createTempDirectory("ztunnel-demo-");
        say("Building a two-node mesh of network namespaces under " + dir + " ...");
        LocalMesh mesh = LocalMesh.start(
                dir,
                List.of("node1", "node2"),
                List.of(
                        new LocalMesh.PodSpec("client", "demo", "client", "node1", 2, Map.of("app", "client")),
                        new LocalMesh.PodSpec("web-1", "demo", "web", "node1", 3, Map.of("app", "web")),
                        new LocalMesh.PodSpec("web-2", "demo", "web", "node2", 2, Map.of("app", "web"))),
                Map.of("demo", Map.of(LocalMesh.DATAPLANE_MODE, "ambient")),
                List.of(new LocalMesh.ServiceSpec("web", "demo", 1, 80, 8080, List.of("web-1", "web-2"))),
                Map.of("RUST_LOG", "info"),
                List.of("-Xmx192m", "-XX:+UseSerialGC"));
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            say("\nStopping: daemons, agents, then every namespace and link the demo made ...");
            APPS.forEach(a -> a.stop(0));
            mesh.close();
            say("Clean. Logs stay in " + dir);
            done.countDown();
        }));
        for (String pod : List.of("web-1", "web-2")) {
            serve(mesh, pod);
        }
        String vip = mesh.vip(1);
        say("""

                Mesh is up: namespace "demo" is labelled istio.io/dataplane-mode=ambient, so its pods are enrolled.
                  client  %s  (node1)
                  web-1   %s  (node1)
                  web-2   %s  (node2)
                  service web.demo.svc.cluster.local  VIP %s:80 -> pods :8080
                """.formatted(
                        mesh.pod("client").ip(),
                        mesh.pod("web-1").ip(),
                        mesh.pod("web-2").ip(),
                        vip));

        say("1. client -> http://" + vip + "/ six times (captured by the client pod's rules, sent over HBONE):");
        int answered = 0;
        for (int i = 0; i < 6; i++) {
            String answer = get(mesh, "client", vip, 80).strip();
            say("   " + (answer.isEmpty() ? "(no answer)" : answer));
            if (answer.startsWith("hello from web-")) {
                answered++;
            }
        }
        expect(answered == 6, "step 1: " + answered + " of 6 requests through the mesh were answered");
        say("\n2. What node2's ztunnel saw for one of those connections (its /debug/connections while it is open):");
        try (Socket held = open(mesh, "client", mesh.pod("web-2").ip(), 8080)) {
            // The client's connect completes at its own ztunnel; the tunnel to node2 follows a moment later.
            String live = "";
            for (int i = 0; i < 50 && !live.contains("inbound"); i++) {
                Thread.sleep(100);
                live = mesh.http("node2", 15000, "/debug/connections");
            }
            for (String line : live.lines().toList()) {
                if (line.contains("Identity")
                        || line.contains("\"direction\"")
                        || line.contains("\"src\"")
                        || line.contains("\"decision\"")) {
                    say("   " + line.strip());
                }
            }
        }
        say("   -> mutual TLS between the pods' identities; the app sees the client pod's own IP.");
        String metrics = mesh.http("node2", 15020, "/metrics");
        metrics.lines()
                .filter(l -> l.startsWith("istio_tcp_received_bytes_total{reporter=\"destination\""))
                .findFirst()
                .ifPresent(l -> say("   " + shorten(l)));

        say("\n3. Applying a DENY policy for the client's identity in namespace demo ...");
        mesh.setPolicies("""
                - name: deny-client
                  namespace: demo
                  scope: Namespace
                  action: Deny
                  dryRun: false
                  rules: [[[{principals: [{Exact: "cluster.local/ns/demo/sa/client"}]}]]]
                """);
        Thread.sleep(1500);
        String refused = get(mesh, "client", vip, 80);
        say("   client -> web: " + (refused.isBlank() ? "connection closed by the mesh (denied)" : refused.strip()));
        expect(refused.isBlank(), "step 3: the DENY policy did not stop the request");
        for (String node : List.of("node1", "node2")) {
            mesh.daemon(node)
                    .output()
                    .lines()
                    .filter(l -> l.contains("explicitly denied by: demo/deny-client"))
                    .reduce((a, b) -> b)
                    .ifPresent(l -> say("   " + node + ": " + shorten(l)));
        }
        mesh.setPolicies("");
        say("   (policy removed again)");

        if (!FAILURES.isEmpty()) {
            System.err.println("\ndemo FAILED:");
            FAILURES.forEach(f -> System.err.println("  " + f));
            System.exit(1); // the shutdown hook cleans up
        }
        // Without a terminal (CI, a pipe) nobody can press Ctrl-C: tear down after the walk-through.
        boolean interactive = System.console() != null && System.console().isTerminal();
        boolean noWait = List.of(args).contains("--no-wait") || !interactive;
        if (noWait) {
            say("\nDemo complete.");
            System.exit(0); // the shutdown hook cleans up
        }
        say("""

                The mesh stays up for exploration; Ctrl-C removes it. Try:
                  ip netns exec %s curl -s http://%s/
                  ip netns exec %s curl -s localhost:15000/config_dump | less
                  ip netns exec %s curl -s localhost:15020/metrics | grep istio_tcp
                  tail -f %s/node2/ztunnel.log
                """.formatted(mesh.pod("client").netns(), vip, mesh.nodeNetns("node1"), mesh.nodeNetns("node2"), dir));
        done.await();
    }

    /** An HTTP app in {@code pod} on :8080 answering "hello from <pod>, you are <client ip>". */
    private static void serve(LocalMesh mesh, String pod) throws IOException {
        String ip = mesh.pod(pod).ip();
        HttpServer server = mesh.netns(pod).call(() -> HttpServer.create(new InetSocketAddress(ip, 8080), 64));
        server.createContext("/", exchange -> {
            byte[] body = ("hello from " + pod + ", you are "
                            + exchange.getRemoteAddress().getAddress().getHostAddress() + "\n")
                    .getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.start();
        APPS.add(server);
    }

    private static Socket open(LocalMesh mesh, String pod, String ip, int port) throws IOException {
        return mesh.netns(pod).call(() -> {
            Socket s = new Socket();
            s.connect(new InetSocketAddress(ip, port), 5000);
            s.setSoTimeout(5000);
            return s;
        });
    }

    /** A plain HTTP/1.0 GET from inside {@code pod}; the body, or "" when the connection was refused or closed. */
    private static String get(LocalMesh mesh, String pod, String ip, int port) {
        try (Socket s = open(mesh, pod, ip, port)) {
            s.getOutputStream().write(("GET / HTTP/1.0\r\nHost: web\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            String response = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            int body = response.indexOf("\r\n\r\n");
            return body < 0 ? response : response.substring(body + 4);
        } catch (IOException e) {
            return "";
        }
    }

    private static void expect(boolean condition, String failure) {
        if (!condition) {
            FAILURES.add(failure);
            say("   !! " + failure);
        }
    }

    private static String shorten(String line) {
        return line.length() > 400 ? line.substring(0, 400) + " ..." : line;
    }

    private static void say(String text) {
        System.out.println(text);
    }
}
