package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.PatternLayout;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ztunnel.core.proxy.AccessLog;
import io.ztunnel.core.proxy.Direction;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class LogConfigTest {
    private final LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
    private final Logger access = context.getLogger("access");
    private final ListAppender<ILoggingEvent> captured = new ListAppender<>();

    @AfterEach
    void restore() {
        access.detachAppender(captured);
        LogConfig.configure("info", false);
        LogConfig.reset();
        context.getLogger("access").setLevel(Level.DEBUG);
    }

    @Test
    void parsesRustLogSyntax() {
        assertThat(LogConfig.parse("info,access=debug,io.ztunnel.core.hbone=trace"))
                .containsExactly(
                        Map.entry("", Level.INFO),
                        Map.entry("access", Level.DEBUG),
                        Map.entry("io.ztunnel.core.hbone", Level.TRACE));
        assertThat(LogConfig.parse("warn")).containsExactly(Map.entry("", Level.WARN));
        assertThatThrownBy(() -> LogConfig.parse("info,access=loud")).hasMessageContaining("unknown level \"loud\"");
        assertThatThrownBy(() -> LogConfig.parse("=debug")).hasMessageContaining("empty target");
    }

    @Test
    void appliesAndResetsLevelsPerTarget() {
        LogConfig.configure("info", false);
        LogConfig.apply("access=off");
        assertThat(LoggerFactory.getLogger("access").isErrorEnabled()).isFalse();
        LogConfig.reset();
        assertThat(LoggerFactory.getLogger("access").isInfoEnabled()).isTrue();
    }

    private ILoggingEvent failedLine() {
        captured.start();
        access.addAppender(captured);
        access.setLevel(Level.DEBUG);
        AccessLog.failed(
                Direction.INBOUND,
                new InetSocketAddress("10.0.0.1", 40000),
                new InetSocketAddress("10.0.0.2", 15008),
                null,
                null,
                "connection closed due to policy rejection: " + "explicitly denied by: ns/deny");
        return captured.list.getLast();
    }

    @Test
    void accessLinesArePlainKeyValuePairsByDefault() {
        PatternLayout layout = new PatternLayout();
        layout.setContext(context);
        layout.setPattern("%level %logger %msg %kvp{NONE}");
        layout.start();
        assertThat(layout.doLayout(failedLine()))
                .isEqualTo("WARN access connection failed src.addr=10.0.0.1:40000 "
                        + "dst.addr=10.0.0.2:15008 direction=inbound "
                        + "error=connection closed due to policy rejection: explicitly denied by: ns/deny");
    }

    @Test
    void accessLinesAreJsonObjectsWithLogFormatJson() throws Exception {
        byte[] line = LogConfig.jsonEncoder(context).encode(failedLine());
        JsonNode json = new ObjectMapper().readTree(new String(line, StandardCharsets.UTF_8));
        assertThat(json.get("level").asText()).isEqualTo("WARN");
        assertThat(json.get("loggerName").asText()).isEqualTo("access");
        assertThat(json.get("message").asText()).isEqualTo("connection failed");
        Map<String, String> fields = new HashMap<>();
        json.get("kvpList")
                .forEach(kv -> kv.fields()
                        .forEachRemaining(
                                e -> fields.put(e.getKey(), e.getValue().asText())));
        assertThat(fields)
                .containsEntry("src.addr", "10.0.0.1:40000")
                .containsEntry("dst.addr", "10.0.0.2:15008")
                .containsEntry("direction", "inbound")
                .containsEntry("error", "connection closed due to policy rejection: explicitly denied by: ns/deny");
    }
}
