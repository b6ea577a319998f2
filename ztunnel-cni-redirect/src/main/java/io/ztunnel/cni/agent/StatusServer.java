package io.ztunnel.cni.agent;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's small HTTP API (istio-cni serves readiness on port 8000): {@code GET /readyz} answers
 * 200 once the first reconcile is done and 503 before; {@code GET /status} answers JSON with each
 * enrolled pod's redirection status, e.g. {@code {"ready":true,"pods":[{"uid":"..","pod":"demo/a",
 * "status":"pending","message":"no ztunnel connection ..."}]}}; {@code GET /metrics} answers the
 * agent's own metrics in the Prometheus text format: {@code ztunnel_node_agent_ready}, {@code
 * ztunnel_node_agent_pods{state="enabled|pending|error"}} (enrolled pods by redirection state) and
 * {@code ztunnel_node_agent_failures_total{operation=".."}} (failed steps, each retried).
 *
 * <p>Threading: the JDK server runs handlers on one platform thread, "cni-agent-status"; they only
 * read the agent's published snapshots. <b>Ownership.</b> Owns the listening socket and that
 * thread; {@link #close()} stops both.
 */
public final class StatusServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StatusServer.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpServer server;
    private final ExecutorService executor;

    private StatusServer(HttpServer server, ExecutorService executor) {
        this.server = server;
        this.executor = executor;
    }

    /** Serves {@code agent}'s readiness and status on {@code address}. */
    public static StatusServer start(InetSocketAddress address, NodeAgent agent) throws IOException {
        HttpServer server = HttpServer.create(address, 16);
        ExecutorService executor = Executors.newSingleThreadExecutor(
                r -> Thread.ofPlatform().name("cni-agent-status").daemon(true).unstarted(r));
        server.setExecutor(executor);
        server.createContext("/readyz", ex -> {
            if (agent.isReady()) {
                reply(ex, 200, "text/plain", "ready\n");
            } else {
                reply(ex, 503, "text/plain", "not ready: first reconcile still running\n");
            }
        });
        server.createContext("/status", ex -> {
            List<Map<String, String>> pods = new ArrayList<>();
            for (PodStatus s : agent.statuses().values()) {
                Map<String, String> m = new LinkedHashMap<>();
                m.put("uid", s.uid());
                m.put("pod", s.pod());
                m.put("status", s.state().text());
                m.put("message", s.message());
                pods.add(m);
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("ready", agent.isReady());
            body.put("pods", pods);
            reply(ex, 200, "application/json", JSON.writeValueAsString(body) + "\n");
        });
        server.createContext("/metrics", ex -> reply(ex, 200, "text/plain; version=0.0.4", metrics(agent)));
        server.start();
        log.atInfo()
                .setMessage("status server listening")
                .addKeyValue("address", server.getAddress())
                .log();
        return new StatusServer(server, executor);
    }

    /** The Prometheus text exposition of the agent's metrics. */
    static String metrics(NodeAgent agent) {
        Map<PodStatus.State, Integer> byState = new EnumMap<>(PodStatus.State.class);
        for (PodStatus.State s : PodStatus.State.values()) {
            byState.put(s, 0);
        }
        for (PodStatus s : agent.statuses().values()) {
            byState.merge(s.state(), 1, Integer::sum);
        }
        StringBuilder b = new StringBuilder();
        b.append("# HELP ztunnel_node_agent_ready 1 once the first reconcile is done.\n");
        b.append("# TYPE ztunnel_node_agent_ready gauge\n");
        b.append("ztunnel_node_agent_ready ").append(agent.isReady() ? 1 : 0).append('\n');
        b.append("# HELP ztunnel_node_agent_pods Enrolled pods by redirection state.\n");
        b.append("# TYPE ztunnel_node_agent_pods gauge\n");
        byState.forEach((s, n) -> b.append("ztunnel_node_agent_pods{state=\"")
                .append(s.text())
                .append("\"} ")
                .append(n)
                .append('\n'));
        b.append("# HELP ztunnel_node_agent_failures_total Failed enrollment or removal steps (each is retried).\n");
        b.append("# TYPE ztunnel_node_agent_failures_total counter\n");
        agent.failureCounts()
                .forEach((op, n) -> b.append("ztunnel_node_agent_failures_total{operation=\"")
                        .append(op)
                        .append("\"} ")
                        .append(n)
                        .append('\n'));
        return b.toString();
    }

    /** The bound address (useful with port 0). */
    public InetSocketAddress address() {
        return server.getAddress();
    }

    private static void reply(HttpExchange ex, int code, String type, String body) throws IOException {
        try (ex) {
            if (!ex.getRequestMethod().equals("GET") && !ex.getRequestMethod().equals("HEAD")) {
                ex.sendResponseHeaders(405, -1);
                return;
            }
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("Content-Type", type + "; charset=utf-8");
            ex.sendResponseHeaders(code, bytes.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
