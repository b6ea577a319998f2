package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.Appender;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** {@code RUST_LOG} and {@code /logging} semantics: upstream's tracing "targets" filter, with our names accepted too. */
class LogConfigTest {
    private final LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
    private final List<Appender<ILoggingEvent>> rootAppenders = new ArrayList<>();

    @BeforeEach
    void keepRootAppenders() {
        context.getLogger(Logger.ROOT_LOGGER_NAME).iteratorForAppenders().forEachRemaining(rootAppenders::add);
    }

    @AfterEach
    void restore() {
        LogConfig.uninstall();
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        root.detachAndStopAllAppenders();
        rootAppenders.forEach(a -> {
            a.start();
            root.addAppender(a);
        });
    }

    private static String canonical(String spec) {
        return LogDirectives.parse(spec).toString();
    }

    @Test
    void theStartupFilterIsUpstreamsPrefixFollowedByRustLog() {
        assertThat(LogConfig.startupFilter(null)).hasToString("hickory_server::server=off,info");
        assertThat(LogConfig.startupFilter("access=debug")).hasToString("hickory_server::server=off,access=debug");
        assertThat(LogConfig.startupFilter("info,access=debug,io.ztunnel.core.hbone=trace"))
                .hasToString("hickory_server::server=off,io.ztunnel.core.hbone=trace,access=debug,info");
        assertThatThrownBy(() -> LogConfig.startupFilter("info,access=loud"))
                .hasMessageContaining("unknown level \"loud\"");
        assertThatThrownBy(() -> LogConfig.startupFilter("a=b=c")).hasMessageContaining("too many '='");
    }

    @Test
    void directivesPrintMostSpecificFirstAndALaterDirectiveForTheSameTargetWins() {
        assertThat(canonical("info,access=debug,ztunnel::proxy=trace,hickory_server::server=off"))
                .isEqualTo("hickory_server::server=off,ztunnel::proxy=trace,access=debug,info");
        // Equal lengths: reverse lexical order.
        assertThat(canonical("aaa=warn,bbb=warn")).isEqualTo("bbb=warn,aaa=warn");
        assertThat(canonical("info,access=debug,debug,access=error")).isEqualTo("access=error,debug");
        // Upstream's level spellings: any case, 0-5, and an empty level is error; a bare target means trace.
        assertThat(canonical("WARN,access=4,x=,io.ztunnel")).isEqualTo("io.ztunnel=trace,access=debug,x=error,warn");
        assertThat(canonical("0")).isEqualTo("off");
    }

    @Test
    void aTargetMatchesByPrefixOfTheUpstreamOrJavaNameAndTheLongestWins() {
        LogFilter filter =
                new LogFilter(LogDirectives.parse("hickory_server::server=off,io.ztunnel.core.hbone=trace,info"));
        // HbonePool is ztunnel::proxy::pool upstream and lives in io.ztunnel.core.hbone.
        assertThat(filter.enabled("io.ztunnel.core.hbone.HbonePool", Level.TRACE))
                .isTrue();
        assertThat(filter.enabled("io.ztunnel.core.proxy.Outbound", Level.DEBUG))
                .isFalse();
        assertThat(filter.enabled("io.ztunnel.core.proxy.Outbound", Level.INFO)).isTrue();

        filter.directives(LogDirectives.parse("info,ztunnel::proxy=debug,ztunnel::proxy::outbound=warn"));
        assertThat(filter.enabled("io.ztunnel.core.proxy.Outbound", Level.INFO)).isFalse();
        assertThat(filter.enabled("io.ztunnel.core.proxy.Inbound", Level.DEBUG)).isTrue();
        assertThat(filter.enabled("io.ztunnel.core.hbone.HbonePool", Level.DEBUG))
                .isTrue(); // ztunnel::proxy::pool
        assertThat(filter.enabled("access", Level.DEBUG)).isFalse();
        // A plain string prefix, as upstream's: "ztunnel::proxy::in" covers inbound and inbound_passthrough.
        filter.directives(LogDirectives.parse("info,ztunnel::proxy::in=trace"));
        assertThat(filter.enabled("io.ztunnel.core.proxy.Inbound", Level.TRACE)).isTrue();
    }

    @Test
    void withoutADefaultEveryTargetNotNamedIsOff() {
        LogFilter filter = new LogFilter(LogConfig.startupFilter("access=debug"));
        assertThat(filter.enabled("access", Level.DEBUG)).isTrue();
        assertThat(filter.enabled("io.ztunnel.core.proxy.Inbound", Level.INFO)).isFalse();
        assertThat(filter.enabled("io.ztunnel.core.proxy.Inbound", Level.ERROR)).isFalse();
    }

    @Test
    void librariesStayAtInfoUnderAVerboseDefaultUnlessNamed() {
        LogFilter filter = new LogFilter(LogDirectives.parse("debug"));
        assertThat(filter.enabled("io.netty.handler.ssl.SslHandler", Level.DEBUG))
                .isFalse();
        assertThat(filter.enabled("io.netty.handler.ssl.SslHandler", Level.INFO))
                .isTrue();
        assertThat(filter.enabled("io.ztunnel.core.proxy.Inbound", Level.DEBUG)).isTrue();
        filter.directives(LogDirectives.parse("warn,io.netty=debug"));
        assertThat(filter.enabled("io.netty.handler.ssl.SslHandler", Level.DEBUG))
                .isTrue();
        assertThat(filter.enabled("io.grpc.internal.ManagedChannelImpl", Level.INFO))
                .isFalse();
    }

    @Test
    void theInstalledFilterDecidesWhatLoggersLog() {
        LogConfig.configure("access=debug", false);
        assertThat(LoggerFactory.getLogger("access").isDebugEnabled()).isTrue();
        assertThat(LoggerFactory.getLogger("io.ztunnel.core.proxy.Inbound").isInfoEnabled())
                .isFalse();
        assertThat(LogConfig.current()).hasToString("hickory_server::server=off,access=debug");
        LogConfig.configure(null, false);
        assertThat(LoggerFactory.getLogger("access").isDebugEnabled()).isFalse();
        assertThat(LoggerFactory.getLogger("io.ztunnel.core.proxy.Inbound").isInfoEnabled())
                .isTrue();
    }

    @Test
    void loggingChangesAppendToTheFilterAndResetStartsFromTheStartupOne() {
        LogConfig.configure(null, false);
        assertThat(LogConfig.change(false, "debug")).hasToString("hickory_server::server=off,debug");
        assertThat(LogConfig.change(true, "")).hasToString("hickory_server::server=off,info");
        assertThat(LogConfig.change(false, "access=debug")).hasToString("hickory_server::server=off,access=debug,info");
        assertThat(LogConfig.change(false, "ztunnel::proxy=trace"))
                .hasToString("hickory_server::server=off,ztunnel::proxy=trace,access=debug,info");
        assertThat(LoggerFactory.getLogger("io.ztunnel.core.proxy.Outbound").isTraceEnabled())
                .isTrue();
        assertThat(LogConfig.change(true, "warn")).hasToString("hickory_server::server=off,warn");
        assertThat(LogConfig.change(true, "off")).hasToString("hickory_server::server=off,off");
    }

    @Test
    void loggingRefusesWhatUpstreamRefusesAndKeepsTheFilter() {
        LogConfig.configure(null, false);
        for (String bad : List.of("access:debug", "INFO", "warning", "info,", "loud", "a=b=c", "x=loud")) {
            assertThatThrownBy(() -> LogConfig.change(false, bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
        }
        assertThat(LogConfig.current()).hasToString("hickory_server::server=off,info");
        // Java logger names are targets too.
        assertThat(LogConfig.change(false, "io.ztunnel.core.hbone=trace,access=DEBUG"))
                .hasToString("hickory_server::server=off,io.ztunnel.core.hbone=trace,access=debug,info");
    }
}
