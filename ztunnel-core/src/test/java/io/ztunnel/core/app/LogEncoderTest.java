package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxy;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ztunnel.core.proxy.AccessLog;
import io.ztunnel.core.proxy.ConnectionRecord;
import io.ztunnel.core.proxy.ConnectionTelemetry;
import io.ztunnel.core.proxy.ConnectionTracker;
import io.ztunnel.core.proxy.Direction;
import io.ztunnel.core.state.Fixtures;
import io.ztunnel.core.state.Workload;
import io.ztunnel.core.util.LogSpan;
import io.ztunnel.core.util.LogValues;
import io.ztunnel.xds.ads.DeltaAdsClient;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import org.slf4j.event.KeyValuePair;

/**
 * Golden lines: events written by {@link LogEncoder} compared character for character with Istio ztunnel's plain and
 * JSON formats (the expected lines are upstream's, from its format code and published access log lines).
 */
class LogEncoderTest {
    private static final Instant G1_TIME = Instant.parse("2026-10-10T01:00:04.396760Z");
    private final LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();

    @AfterEach
    void restore() {
        LogConfig.uninstall();
    }

    private static LoggingEvent event(
            String logger, Level level, Instant time, String message, @Nullable Object... kv) {
        LoggingEvent e = new LoggingEvent();
        e.setLoggerContext((LoggerContext) LoggerFactory.getILoggerFactory()); // as every logged event has
        e.setLoggerName(logger);
        e.setLevel(level);
        e.setInstant(time);
        e.setMessage(message);
        List<KeyValuePair> pairs = new ArrayList<>();
        for (int i = 0; i < kv.length; i += 2) {
            pairs.add(new KeyValuePair((String) kv[i], kv[i + 1]));
        }
        e.setKeyValuePairs(pairs);
        return e;
    }

    private String plain(ILoggingEvent e) {
        return new String(LogEncoder.create(context, false).encode(e), StandardCharsets.UTF_8);
    }

    private String json(ILoggingEvent e) {
        return new String(LogEncoder.create(context, true).encode(e), StandardCharsets.UTF_8);
    }

    /** G1/G8's event: an outbound HBONE connection completed, every access log field present. */
    private static LoggingEvent outboundComplete() throws Exception {
        return event(
                "access",
                Level.INFO,
                G1_TIME,
                "connection complete",
                "src.addr",
                LogValues.address(new InetSocketAddress(InetAddress.getByName("10.244.0.9"), 58866)),
                "src.workload",
                "tester-577d497fbd-c4gtz",
                "src.namespace",
                "ambient-demo",
                "src.identity",
                "spiffe://cluster.local/ns/ambient-demo/sa/default",
                "src.cluster",
                "Kubernetes",
                "dst.addr",
                LogValues.address(new InetSocketAddress(InetAddress.getByName("10.244.0.8"), 15008)),
                "dst.hbone_addr",
                LogValues.display("10.244.0.8:80"),
                "dst.service",
                "notification-service.ambient-demo.svc.cluster.local",
                "dst.workload",
                "notification-service-76f869bb97-vsdh7",
                "dst.namespace",
                "ambient-demo",
                "dst.identity",
                "spiffe://cluster.local/ns/ambient-demo/sa/default",
                "dst.cluster",
                "Kubernetes",
                "direction",
                "outbound",
                "bytes_sent",
                84L,
                "bytes_recv",
                853L,
                "duration",
                "0ms");
    }

    @Test
    void anAccessLineIsTabSeparatedWithQuotedTextAndBareAddressesAndNumbers() throws Exception {
        assertThat(plain(outboundComplete()))
                .isEqualTo("2026-10-10T01:00:04.396760Z\tinfo\taccess\tconnection complete\t"
                        + "src.addr=10.244.0.9:58866 src.workload=\"tester-577d497fbd-c4gtz\" src.namespace=\"ambient-demo\""
                        + " src.identity=\"spiffe://cluster.local/ns/ambient-demo/sa/default\" src.cluster=\"Kubernetes\""
                        + " dst.addr=10.244.0.8:15008 dst.hbone_addr=10.244.0.8:80"
                        + " dst.service=\"notification-service.ambient-demo.svc.cluster.local\""
                        + " dst.workload=\"notification-service-76f869bb97-vsdh7\" dst.namespace=\"ambient-demo\""
                        + " dst.identity=\"spiffe://cluster.local/ns/ambient-demo/sa/default\" dst.cluster=\"Kubernetes\""
                        + " direction=\"outbound\" bytes_sent=84 bytes_recv=853 duration=\"0ms\"\n");
    }

    @Test
    void anErrorAccessLineEndsWithTheQuotedError() throws Exception {
        LoggingEvent e = event(
                "access",
                Level.ERROR,
                G1_TIME,
                "connection complete",
                "src.addr",
                LogValues.display("10.244.0.9:58866"),
                "direction",
                "inbound",
                "bytes_sent",
                0L,
                "bytes_recv",
                0L,
                "duration",
                "0ms",
                "error",
                "connection closed due to policy rejection: allow policies exist, but none allowed");
        assertThat(plain(e))
                .isEqualTo(
                        "2026-10-10T01:00:04.396760Z\terror\taccess\tconnection complete\tsrc.addr=10.244.0.9:58866"
                                + " direction=\"inbound\" bytes_sent=0 bytes_recv=0 duration=\"0ms\""
                                + " error=\"connection closed due to policy rejection: allow policies exist, but none allowed\"\n");
    }

    @Test
    void anEarlyDenyFromTheAccessLogHasExactlyFourFields() throws Exception {
        Logger access = context.getLogger("access");
        ListAppender<ILoggingEvent> captured = new ListAppender<>();
        captured.start();
        access.addAppender(captured);
        try {
            AccessLog.failed(
                    Direction.OUTBOUND,
                    new InetSocketAddress(InetAddress.getByName("10.244.1.104"), 35211),
                    new InetSocketAddress(InetAddress.getByName("10.96.0.1"), 443),
                    "unknown source workload: x");
        } finally {
            access.detachAppender(captured);
        }
        LoggingEvent e = (LoggingEvent) captured.list.getLast();
        e.setInstant(Instant.parse("2026-08-24T01:53:58.072727Z"));
        assertThat(plain(e))
                .isEqualTo("2026-08-24T01:53:58.072727Z\twarn\taccess\tconnection failed\tsrc.addr=10.244.1.104:35211"
                        + " dst.addr=10.96.0.1:443 direction=\"outbound\" error=\"unknown source workload: x\"\n");
        assertThat(json(e))
                .isEqualTo("{\"level\":\"warn\",\"time\":\"2026-08-24T01:53:58.072727Z\",\"scope\":\"access\","
                        + "\"message\":\"connection failed\",\"src.addr\":\"10.244.1.104:35211\","
                        + "\"dst.addr\":\"10.96.0.1:443\",\"direction\":\"outbound\","
                        + "\"error\":\"unknown source workload: x\"}\n");
    }

    /** The access logger's events while {@code action} runs, DEBUG on for it. */
    private List<ILoggingEvent> accessEvents(Runnable action) {
        LogConfig.filter().directives(LogDirectives.parse("info,access=debug"));
        Logger access = context.getLogger("access");
        ListAppender<ILoggingEvent> captured = new ListAppender<>();
        captured.start();
        access.addAppender(captured);
        try {
            action.run();
        } finally {
            access.detachAppender(captured);
        }
        for (ILoggingEvent e : captured.list) {
            ((LoggingEvent) e).setInstant(G1_TIME);
        }
        return captured.list;
    }

    private static String fixedDuration(String line) {
        return line.replaceAll("duration=\"[0-9]+ms\"", "duration=\"0ms\"")
                .replaceAll("\"duration\":\"[0-9]+ms\"", "\"duration\":\"0ms\"");
    }

    @Test
    void anInboundHboneConnectionLogsOpenedAtDebugAndCompleteAtInfoWithUpstreamsFields() throws Exception {
        Workload client = Fixtures.pod("demo", "client-7c9", "10.244.0.9").build();
        Workload server = Fixtures.pod("demo", "web-5d8", "10.244.0.8").build();
        List<ILoggingEvent> events =
                accessEvents(() -> ConnectionRecord.builder(Direction.INBOUND, "demo/web-5d8/web-5d8")
                        .source(Fixtures.addr("10.244.0.9", 58866), client, client.identity())
                        .destination(Fixtures.addr("10.244.0.8", 15008), server, null, server.identity())
                        .hboneTarget("10.244.0.8:8080")
                        .open(new ConnectionTracker(), ConnectionTelemetry.NONE)
                        .closed(null));
        assertThat(events).hasSize(2);
        String parties = "src.addr=10.244.0.9:58866 src.workload=\"client-7c9\" src.namespace=\"demo\""
                + " src.identity=\"spiffe://cluster.local/ns/demo/sa/client-7c9\" src.cluster=\"Kubernetes\""
                + " dst.addr=10.244.0.8:15008 dst.hbone_addr=10.244.0.8:8080 dst.workload=\"web-5d8\""
                + " dst.namespace=\"demo\" dst.identity=\"spiffe://cluster.local/ns/demo/sa/web-5d8\""
                + " dst.cluster=\"Kubernetes\" direction=\"inbound\"";
        assertThat(plain(events.get(0)))
                .isEqualTo("2026-10-10T01:00:04.396760Z\tdebug\taccess\tconnection opened\t" + parties + "\n");
        assertThat(fixedDuration(plain(events.get(1))))
                .isEqualTo("2026-10-10T01:00:04.396760Z\tinfo\taccess\tconnection complete\t" + parties
                        + " bytes_sent=0 bytes_recv=0 duration=\"0ms\"\n");
        JsonNode json = new ObjectMapper().readTree(json(events.get(1)));
        List<String> keys = new ArrayList<>();
        json.fieldNames().forEachRemaining(keys::add);
        assertThat(keys)
                .containsExactly(
                        "level",
                        "time",
                        "scope",
                        "message",
                        "src.addr",
                        "src.workload",
                        "src.namespace",
                        "src.identity",
                        "src.cluster",
                        "dst.addr",
                        "dst.hbone_addr",
                        "dst.workload",
                        "dst.namespace",
                        "dst.identity",
                        "dst.cluster",
                        "direction",
                        "bytes_sent",
                        "bytes_recv",
                        "duration");
        assertThat(json.get("scope").asText()).isEqualTo("access");
        assertThat(json.get("bytes_sent").isNumber()).isTrue();
        assertThat(json.get("dst.hbone_addr").asText()).isEqualTo("10.244.0.8:8080");
    }

    @Test
    void aPlaintextConnectionLogsNoIdentitiesEvenWhenTheyAreKnown() {
        Workload client = Fixtures.pod("demo", "client-7c9", "10.244.0.9").build();
        Workload legacy = Fixtures.pod("legacy", "db-0", "10.244.0.7")
                .tunnelProtocol(Workload.TunnelProtocol.NONE)
                .clusterId("east")
                .build();
        List<ILoggingEvent> events =
                accessEvents(() -> ConnectionRecord.builder(Direction.OUTBOUND, "demo/client-7c9/client-7c9")
                        .source(Fixtures.addr("10.244.0.9", 40000), client, client.identity())
                        .destination(Fixtures.addr("10.244.0.7", 5432), legacy, null, legacy.identity())
                        .open(new ConnectionTracker(), ConnectionTelemetry.NONE)
                        .fail(new IOException("Connection refused"), "connect to 10.244.0.7:5432 failed"));
        assertThat(events).hasSize(2);
        assertThat(fixedDuration(plain(events.get(1))))
                .isEqualTo("2026-10-10T01:00:04.396760Z\terror\taccess\tconnection complete\t"
                        + "src.addr=10.244.0.9:40000 src.workload=\"client-7c9\" src.namespace=\"demo\""
                        + " src.cluster=\"Kubernetes\" dst.addr=10.244.0.7:5432 dst.workload=\"db-0\""
                        + " dst.namespace=\"legacy\" dst.cluster=\"east\" direction=\"outbound\""
                        + " bytes_sent=0 bytes_recv=0 duration=\"0ms\""
                        + " error=\"connect to 10.244.0.7:5432 failed\"\n");
    }

    @Test
    void aMessageOnlyEventEndsWithATabAndNamesTheUpstreamTarget() {
        LoggingEvent e = event("io.ztunnel.core.app.Daemon", Level.INFO, G1_TIME, "shutting down");
        assertThat(plain(e)).isEqualTo("2026-10-10T01:00:04.396760Z\tinfo\tapp\tshutting down\t\n");
        assertThat(json(e))
                .isEqualTo("{\"level\":\"info\",\"time\":\"2026-10-10T01:00:04.396760Z\",\"scope\":\"ztunnel::app\","
                        + "\"message\":\"shutting down\"}\n");
    }

    @Test
    void textIsQuotedWithRustEscapesWhileNumbersBooleansAndDisplayValuesAreBare() {
        LoggingEvent e = event(
                "io.ztunnel.core.proxy.Inbound",
                Level.DEBUG,
                G1_TIME,
                "x",
                "error",
                "a \"b\"\nc\\d\te\u0001",
                "port",
                15008,
                "ok",
                true,
                "addr",
                LogValues.display("[fd00::1]:80"),
                "missing",
                null,
                "log.target",
                "skipped");
        assertThat(plain(e))
                .isEqualTo("2026-10-10T01:00:04.396760Z\tdebug\tproxy::inbound\tx\t"
                        + "error=\"a \\\"b\\\"\\nc\\\\d\\te\\u{1}\" port=15008 ok=true addr=[fd00::1]:80\n");
        assertThat(json(e))
                .isEqualTo("{\"level\":\"debug\",\"time\":\"2026-10-10T01:00:04.396760Z\","
                        + "\"scope\":\"ztunnel::proxy::inbound\",\"message\":\"x\","
                        + "\"error\":\"a \\\"b\\\"\\nc\\\\d\\te\\u0001\",\"port\":15008,\"ok\":true,"
                        + "\"addr\":\"[fd00::1]:80\"}\n");
    }

    @Test
    void librariesKeepTheirJavaNames() {
        LoggingEvent e = event("io.netty.handler.ssl.SslHandler", Level.WARN, G1_TIME, "x");
        assertThat(plain(e)).isEqualTo("2026-10-10T01:00:04.396760Z\twarn\tio.netty.handler.ssl.SslHandler\tx\t\n");
    }

    @Test
    void theJsonLineHasUpstreamsKeysInOrderFlatAndTyped() throws Exception {
        String line = json(outboundComplete());
        assertThat(line)
                .isEqualTo("{\"level\":\"info\",\"time\":\"2026-10-10T01:00:04.396760Z\",\"scope\":\"access\","
                        + "\"message\":\"connection complete\",\"src.addr\":\"10.244.0.9:58866\","
                        + "\"src.workload\":\"tester-577d497fbd-c4gtz\",\"src.namespace\":\"ambient-demo\","
                        + "\"src.identity\":\"spiffe://cluster.local/ns/ambient-demo/sa/default\","
                        + "\"src.cluster\":\"Kubernetes\",\"dst.addr\":\"10.244.0.8:15008\","
                        + "\"dst.hbone_addr\":\"10.244.0.8:80\","
                        + "\"dst.service\":\"notification-service.ambient-demo.svc.cluster.local\","
                        + "\"dst.workload\":\"notification-service-76f869bb97-vsdh7\",\"dst.namespace\":\"ambient-demo\","
                        + "\"dst.identity\":\"spiffe://cluster.local/ns/ambient-demo/sa/default\","
                        + "\"dst.cluster\":\"Kubernetes\",\"direction\":\"outbound\",\"bytes_sent\":84,"
                        + "\"bytes_recv\":853,\"duration\":\"0ms\"}\n");
        JsonNode parsed = new ObjectMapper().readTree(line);
        assertThat(parsed.get("bytes_sent").isNumber()).isTrue();
        assertThat(parsed.size()).isEqualTo(20);
    }

    @Test
    void timesAreUtcWithMicrosecondsAndLeadingZeros() {
        LoggingEvent e = event("access", Level.INFO, Instant.parse("2026-01-02T03:04:05.000007999Z"), "x");
        assertThat(plain(e)).startsWith("2026-01-02T03:04:05.000007Z\t");
        e.setInstant(Instant.parse("2026-01-02T03:04:06Z"));
        assertThat(plain(e)).startsWith("2026-01-02T03:04:06.000000Z\t");
    }

    @Test
    void anExceptionIsOneErrorFieldWithoutAStackTraceUnlessDebugIsOn() {
        LogConfig.filter().directives(LogDirectives.parse("info"));
        LoggingEvent e = event("io.ztunnel.core.admin.HttpServer", Level.WARN, G1_TIME, "admin handler failed");
        e.setThrowableProxy(new ThrowableProxy(new IllegalStateException("cannot dump", new IOException("disk full"))));
        assertThat(plain(e))
                .isEqualTo("2026-10-10T01:00:04.396760Z\twarn\tadmin\tadmin handler failed\t"
                        + "error=\"cannot dump: disk full\"\n");
        assertThat(json(e)).endsWith(",\"error\":\"cannot dump: disk full\"}\n");

        LogConfig.filter().directives(LogDirectives.parse("info,ztunnel::admin=debug"));
        assertThat(plain(e))
                .startsWith("2026-10-10T01:00:04.396760Z\twarn\tadmin\tadmin handler failed\t"
                        + "error=\"cannot dump: disk full\"\njava.lang.IllegalStateException: cannot dump\n\tat ");
        assertThat(json(e)).contains(",\"stack\":\"java.lang.IllegalStateException: cannot dump\\n\\tat ");
        assertThat(json(e).lines()).hasSize(1);
    }

    @Test
    void anExceptionOnAnEventWithAnErrorFieldBecomesTheCause() {
        LogConfig.filter().directives(LogDirectives.parse("info"));
        LoggingEvent e = event("io.ztunnel.core.app.Main", Level.ERROR, G1_TIME, "m", "error", "x");
        e.setThrowableProxy(new ThrowableProxy(new RuntimeException()));
        assertThat(plain(e)).endsWith("\tm\terror=\"x\" cause=\"RuntimeException\"\n");
    }

    private static final String TRACE_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /** A pod's inbound request span: {@code proxy{wl=demo/web-5d8}:inbound{id=4bf9… peer=10.244.0.9:58866}}. */
    private static LogSpan inboundSpan() {
        return LogSpan.inbound(LogSpan.proxy("demo", "web-5d8"), TRACE_PARENT, Fixtures.addr("10.244.0.9", 58866));
    }

    @Test
    void spansFollowTheTargetRootFirstInThePlainFormat() {
        LoggingEvent e = event(
                "io.ztunnel.core.proxy.Inbound",
                Level.DEBUG,
                G1_TIME,
                "inbound upstream connect failed",
                "upstream",
                LogValues.address(Fixtures.addr("10.244.0.8", 8080)),
                LogSpan.KEY,
                inboundSpan(),
                "error",
                "connection refused: \"web\"\n");
        assertThat(plain(e))
                .isEqualTo("2026-10-10T01:00:04.396760Z\tdebug\tproxy::inbound"
                        + ":proxy{wl=demo/web-5d8}:inbound{id=4bf92f3577b34da6a3ce929d0e0e4736 peer=10.244.0.9:58866}"
                        + "\tinbound upstream connect failed\t"
                        + "upstream=10.244.0.8:8080 error=\"connection refused: \\\"web\\\"\\n\"\n");
    }

    @Test
    void spansAreOneJsonObjectEachAfterTheFieldsRootFirst() throws Exception {
        LoggingEvent e = event(
                "io.ztunnel.core.proxy.Inbound",
                Level.DEBUG,
                G1_TIME,
                "inbound upstream connect failed",
                LogSpan.KEY,
                inboundSpan(),
                "upstream",
                LogValues.address(Fixtures.addr("10.244.0.8", 8080)),
                "error",
                "connection refused");
        String line = json(e);
        assertThat(line)
                .isEqualTo("{\"level\":\"debug\",\"time\":\"2026-10-10T01:00:04.396760Z\","
                        + "\"scope\":\"ztunnel::proxy::inbound\",\"message\":\"inbound upstream connect failed\","
                        + "\"upstream\":\"10.244.0.8:8080\",\"error\":\"connection refused\","
                        + "\"proxy\":{\"wl\":\"demo/web-5d8\"},"
                        + "\"inbound\":{\"id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"peer\":\"10.244.0.9:58866\"}}\n");
        JsonNode parsed = new ObjectMapper().readTree(line);
        assertThat(parsed.get("inbound").get("peer").asText()).isEqualTo("10.244.0.9:58866");
        assertThat(parsed.has(LogSpan.KEY)).isFalse();
    }

    @Test
    void spanValuesAreWrittenAsDisplayValuesAndEscapedInJson() {
        LogSpan span = LogSpan.of(
                LogSpan.of(null, "proxy", "wl", "ns/we\"ird\tname"),
                "inbound",
                "id",
                "x",
                "peer",
                Fixtures.addr("fd00::1", 15008));
        LoggingEvent e = event("io.ztunnel.core.proxy.Inbound", Level.WARN, G1_TIME, "", LogSpan.KEY, span);
        // Display values are bare in the plain format, as upstream's %-fields; no message and no fields: no tab.
        assertThat(plain(e))
                .isEqualTo("2026-10-10T01:00:04.396760Z\twarn\tproxy::inbound"
                        + ":proxy{wl=ns/we\"ird\tname}:inbound{id=x peer=[fd00::1]:15008}\n");
        assertThat(json(e))
                .isEqualTo("{\"level\":\"warn\",\"time\":\"2026-10-10T01:00:04.396760Z\","
                        + "\"scope\":\"ztunnel::proxy::inbound\",\"proxy\":{\"wl\":\"ns/we\\\"ird\\tname\"},"
                        + "\"inbound\":{\"id\":\"x\",\"peer\":\"[fd00::1]:15008\"}}\n");
    }

    @Test
    void anOutboundSpanCarriesTheTraceIdOfTheTraceparentItSends() {
        assertThat(LogSpan.outbound(null, TRACE_PARENT).toString())
                .isEqualTo("outbound{id=4bf92f3577b34da6a3ce929d0e0e4736}");
        // No (or a malformed) traceparent: a fresh random id of the same form, as upstream makes one.
        for (String bad : new String[] {null, "", "00-zzzz2f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}) {
            assertThat(LogSpan.inbound(null, bad, Fixtures.addr("10.0.0.1", 1)).toString())
                    .matches("inbound\\{id=[0-9a-f]{32} peer=10\\.0\\.0\\.1:1}");
        }
    }

    @Test
    void theXdsClientsConnectionAttemptIsTheXdsSpanWithANumericId() {
        LoggingEvent e = event(
                "io.ztunnel.xds.ads.DeltaAdsClient",
                Level.INFO,
                G1_TIME,
                "ADS stream established",
                "type_url",
                "type.googleapis.com/istio.workload.Address");
        e.setMDCPropertyMap(Map.of(DeltaAdsClient.LOG_CONNECTION_KEY, "3"));
        assertThat(plain(e))
                .isEqualTo("2026-10-10T01:00:04.396760Z\tinfo\txds::client:xds{id=3}\tADS stream established\t"
                        + "type_url=\"type.googleapis.com/istio.workload.Address\"\n");
        assertThat(json(e))
                .endsWith(",\"type_url\":\"type.googleapis.com/istio.workload.Address\",\"xds\":{\"id\":3}}\n");
    }

    @Test
    void accessLinesOfAConnectionWithASpanStayRootEvents() throws Exception {
        Workload client = Fixtures.pod("demo", "client-7c9", "10.244.0.9").build();
        Workload server = Fixtures.pod("demo", "web-5d8", "10.244.0.8").build();
        ConnectionRecord[] record = new ConnectionRecord[1];
        List<ILoggingEvent> events = accessEvents(() -> {
            record[0] = ConnectionRecord.builder(Direction.INBOUND, "demo/web-5d8/web-5d8")
                    .source(Fixtures.addr("10.244.0.9", 58866), client, client.identity())
                    .destination(Fixtures.addr("10.244.0.8", 15008), server, null, server.identity())
                    .logSpan(inboundSpan())
                    .open(new ConnectionTracker(), ConnectionTelemetry.NONE);
            record[0].closed(null);
        });
        assertThat(record[0].logSpan()).isNotNull();
        assertThat(events).hasSize(2);
        for (ILoggingEvent e : events) {
            assertThat(plain(e))
                    .contains("\taccess\tconnection ")
                    .doesNotContain("proxy{")
                    .doesNotContain("inbound{");
            JsonNode json = new ObjectMapper().readTree(json(e));
            assertThat(json.has("proxy")).isFalse();
            assertThat(json.has("inbound")).isFalse();
        }
    }
}
