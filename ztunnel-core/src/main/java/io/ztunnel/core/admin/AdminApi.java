package io.ztunnel.core.admin;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.util.NetUtil;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.proxy.ConnectionRecord;
import io.ztunnel.core.proxy.ConnectionTracker;
import io.ztunnel.core.rbac.Authorizer;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.core.state.Workload;
import io.ztunnel.core.util.Errors;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.ParseException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import jdk.jfr.Configuration;
import jdk.jfr.Recording;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin API's routes (served on 127.0.0.1:15000 and [::1]:15000):
 *
 * <ul>
 *   <li>{@code /config_dump}: the state in the local-config schema, certificates, version, config, pods;
 *   <li>{@code POST /logging}: show ({@code current log level is ...}), extend ({@code ?level=debug} or
 *       {@code ?level=access=debug,...}) or {@code ?reset} the log filter, with upstream's answers;
 *   <li>{@code POST /quitquitquit}: graceful shutdown, answered at once;
 *   <li>{@code /debug/connections}: live connections with identities, bytes, age and the decision that admitted
 *       them;
 *   <li>{@code /debug/authorize?src=&dst=&port=&identity=}: evaluates the current policies for a hypothetical
 *       connection and explains each policy's part in the decision;
 *   <li>{@code /debug/threads}: a thread dump; {@code /debug/jfr?seconds=N}: a JDK Flight Recorder recording
 *       (in place of ztunnel's pprof endpoints).
 * </ul>
 *
 * <p>Handlers run on the control event loop and do not block it (shutdown and recordings run on their own threads).
 */
public final class AdminApi {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Logger log = LoggerFactory.getLogger(AdminApi.class);

    /** The log filter, in {@code RUST_LOG} syntax: read it, or change it as {@code POST /logging} does. */
    public interface LogLevels {
        /**
         * With {@code reset}, the startup filter followed by {@code level}, else the current filter followed by
         * {@code level}; returns the new filter. Throws {@link IllegalArgumentException} when {@code level} is not
         * accepted (nothing changes then).
         */
        String change(boolean reset, String level);

        String current();
    }

    private final Supplier<Map<String, Object>> configDump;
    private final StateStore state;
    private final ConnectionTracker connections;
    private final String network;
    private final LogLevels logLevels;
    private final Runnable shutdown;

    public AdminApi(
            Supplier<Map<String, Object>> configDump,
            StateStore state,
            ConnectionTracker connections,
            String network,
            LogLevels logLevels,
            Runnable shutdown) {
        this.configDump = configDump;
        this.state = state;
        this.connections = connections;
        this.network = network;
        this.logLevels = logLevels;
        this.shutdown = shutdown;
    }

    public Map<String, HttpServer.Handler> routes() {
        Map<String, HttpServer.Handler> routes = new LinkedHashMap<>();
        routes.put("/", r -> done(HttpServer.Response.text(HttpResponseStatus.OK, INDEX)));
        routes.put("/config_dump", r -> done(HttpServer.Response.json(ConfigDump.toJson(configDump.get()))));
        routes.put("/logging", this::logging);
        routes.put("/quitquitquit", this::quit);
        routes.put("/debug/connections", r -> done(HttpServer.Response.json(json(connections()))));
        routes.put("/debug/authorize", r -> done(authorize(r)));
        routes.put("/debug/threads", r -> done(HttpServer.Response.text(HttpResponseStatus.OK, threadDump())));
        routes.put("/debug/jfr", this::recording);
        return routes;
    }

    private static final String INDEX = """
            ztunnel-java admin

            /config_dump                       state, certificates, version, config, pods
            /logging                     POST  ?level=<level> | ?level=<target>=<level>,... | ?reset[&level=...]
            /quitquitquit                POST  graceful shutdown
            /debug/connections                 live connections, identities, bytes, age, decision
            /debug/authorize                   ?src=<ip>&dst=<ip>&port=<port>[&identity=<spiffe id>]
            /debug/threads                     thread dump
            /debug/jfr                         ?seconds=<1..300>: a Flight Recorder recording
            """;

    /** Upstream's usage text, in its 400 and 405 answers. */
    static final String LOGGING_HELP = "\nusage: POST /logging\t\t\t\t\t\t(To list current level)\n"
            + "usage: POST /logging?level=<level>\t\t\t\t(To change global levels)\n"
            + "usage: POST /logging?level={mod1}:{level1},{mod2}:{level2}\t(To change specific mods' logging level)\n"
            + "\n"
            + "hint: loglevel:\terror|warn|info|debug|trace|off\n"
            + "hint: mod_name:\tthe module name, i.e. ztunnel::proxy\n";

    /**
     * {@code POST /logging}, as upstream: no {@code level} and no {@code reset} lists the filter; {@code level} is
     * appended to the current filter, or with {@code reset} (any value) to the startup filter; a bad level is a 400 and
     * changes nothing. Other methods: 405.
     */
    private CompletableFuture<HttpServer.Response> logging(HttpServer.Request r) {
        if (!r.method().equals("POST")) {
            return done(HttpServer.Response.text(
                    HttpResponseStatus.METHOD_NOT_ALLOWED, "Invalid HTTP method\n " + LOGGING_HELP));
        }
        String level = last(r, "level");
        boolean reset = r.query().containsKey("reset");
        if (level == null) {
            level = "";
        }
        if (!reset && level.isEmpty()) {
            return done(currentLevel(logLevels.current()));
        }
        String filter;
        try {
            filter = logLevels.change(reset, level);
        } catch (IllegalArgumentException e) {
            return done(HttpServer.Response.text(
                    HttpResponseStatus.BAD_REQUEST, "Invalid level provided: " + level + "\n" + LOGGING_HELP));
        }
        return done(currentLevel(filter));
    }

    private static HttpServer.Response currentLevel(String filter) {
        return HttpServer.Response.text(HttpResponseStatus.OK, "current log level is " + filter + "\n");
    }

    /** A query parameter's last value (a form decoded into a map keeps the last), or null. */
    private static @Nullable String last(HttpServer.Request r, String name) {
        List<String> values = r.query().get(name);
        return values == null || values.isEmpty() ? null : values.getLast();
    }

    /**
     * {@code POST /quitquitquit}: starts the graceful drain and answers {@code shutdown now} at once, the drain going on
     * behind the answer; a repeated request answers the same. Other methods: 405 with an empty body.
     */
    private CompletableFuture<HttpServer.Response> quit(HttpServer.Request r) {
        if (!r.method().equals("POST")) {
            return done(HttpServer.Response.empty(HttpResponseStatus.METHOD_NOT_ALLOWED));
        }
        // The drain waits for connections, so it runs on its own thread; the answer does not wait for it.
        Thread.ofPlatform().name("ztunnel-quit").start(shutdown);
        log.atInfo().log("Shutdown completed gracefully");
        return done(HttpServer.Response.text(HttpResponseStatus.OK, "shutdown now\n"));
    }

    private List<Object> connections() {
        List<Object> out = new ArrayList<>();
        for (ConnectionRecord c : connections.snapshot()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", c.id());
            m.put("proxy", c.owner());
            m.put("direction", c.direction().label());
            m.put("src", String.valueOf(c.source()));
            m.put("dst", String.valueOf(c.destination()));
            m.put("hboneTarget", c.hboneTarget());
            m.put(
                    "srcIdentity",
                    c.sourceIdentity() == null ? null : c.sourceIdentity().toString());
            m.put(
                    "dstIdentity",
                    c.destinationIdentity() == null
                            ? null
                            : c.destinationIdentity().toString());
            m.put(
                    "srcWorkload",
                    c.sourceWorkload() == null ? null : c.sourceWorkload().uid());
            m.put(
                    "dstWorkload",
                    c.destinationWorkload() == null
                            ? null
                            : c.destinationWorkload().uid());
            m.put(
                    "dstService",
                    c.destinationService() == null
                            ? null
                            : c.destinationService().hostname());
            m.put("bytesReceived", c.received());
            m.put("bytesSent", c.sent());
            m.put("started", c.start().toString());
            m.put("ageSeconds", c.age().toMillis() / 1000.0);
            m.put("decision", c.decision());
            out.add(m);
        }
        return out;
    }

    private HttpServer.Response authorize(HttpServer.Request r) {
        String src = r.param("src");
        String dst = r.param("dst");
        String port = r.param("port");
        if (src == null || dst == null || port == null) {
            return badRequest("src, dst and port are required, e.g. ?src=10.0.0.1&dst=10.0.0.2&port=8080"
                    + "&identity=spiffe://cluster.local/ns/default/sa/web");
        }
        InetAddress srcIp;
        InetAddress dstIp;
        int dstPort;
        SpiffeId identity = null;
        try {
            srcIp = parseIp(src, "src");
            dstIp = parseIp(dst, "dst");
            dstPort = Integer.parseInt(port);
            if (dstPort < 0 || dstPort > 65535) {
                throw new IllegalArgumentException("port " + port + " out of range");
            }
            if (r.param("identity") != null && !r.param("identity").isEmpty()) {
                identity = SpiffeId.parse(r.param("identity"));
            }
        } catch (NumberFormatException e) {
            return badRequest("port: not a number: " + port);
        } catch (IllegalArgumentException e) {
            return badRequest(Errors.message(e));
        }
        ProxyState snapshot = state.current();
        Workload destination = snapshot.workloadByAddress(new NetworkAddress(network, dstIp));
        if (destination == null) {
            return badRequest("no workload with IP " + dst + " on network \"" + network + "\"");
        }
        Authorizer.Decision decision = Authorizer.evaluate(
                snapshot, destination, new Authorizer.Connection(srcIp, identity, dstIp, dstPort), true);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("allowed", decision.allowed());
        out.put("reason", decision.reason());
        out.put("decidingPolicy", decision.policy());
        out.put("destinationWorkload", destination.uid());
        List<Object> policies = new ArrayList<>();
        for (Authorizer.PolicyResult p : decision.trace()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("policy", p.policy());
            m.put("action", p.action().name());
            m.put("dryRun", p.dryRun());
            m.put("matched", p.matched());
            m.put("detail", p.detail());
            policies.add(m);
        }
        out.put("policies", policies);
        return HttpServer.Response.json(json(out));
    }

    private static InetAddress parseIp(String text, String field) {
        byte[] raw = NetUtil.createByteArrayFromIpAddressString(text);
        if (raw == null) {
            throw new IllegalArgumentException(field + ": not an IP address: " + text);
        }
        try {
            return InetAddress.getByAddress(raw);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(field + ": " + Errors.message(e));
        }
    }

    private static String threadDump() {
        StringBuilder out = new StringBuilder();
        for (ThreadInfo t : ManagementFactory.getThreadMXBean().dumpAllThreads(false, false, 64)) {
            out.append(t.toString());
        }
        return out.toString();
    }

    private CompletableFuture<HttpServer.Response> recording(HttpServer.Request r) {
        int seconds;
        try {
            seconds = r.param("seconds") == null ? 10 : Integer.parseInt(r.param("seconds"));
        } catch (NumberFormatException e) {
            return done(badRequest("seconds: not a number"));
        }
        if (seconds < 1 || seconds > 300) {
            return done(badRequest("seconds: " + seconds + " (expected: 1..300)"));
        }
        CompletableFuture<HttpServer.Response> answer = new CompletableFuture<>();
        Thread.ofPlatform().name("ztunnel-jfr").start(() -> {
            try (Recording recording = new Recording(Configuration.getConfiguration("profile"))) {
                recording.start();
                Thread.sleep(Duration.ofSeconds(seconds));
                recording.stop();
                Path file = Files.createTempFile("ztunnel-", ".jfr");
                try {
                    recording.dump(file);
                    answer.complete(HttpServer.Response.binary("application/octet-stream", Files.readAllBytes(file)));
                } finally {
                    Files.deleteIfExists(file);
                }
            } catch (IOException | ParseException | InterruptedException e) {
                answer.completeExceptionally(e);
            }
        });
        return answer;
    }

    private static HttpServer.Response badRequest(String message) {
        return HttpServer.Response.text(HttpResponseStatus.BAD_REQUEST, message + "\n");
    }

    private static String json(Object value) {
        try {
            return JSON.writeValueAsString(value) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static CompletableFuture<HttpServer.Response> done(HttpServer.Response response) {
        return CompletableFuture.completedFuture(response);
    }
}
