package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.Appender;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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

    @Test
    void aFullLineQueueMakesTheLoggerWaitAndNoLineIsLost() throws Exception {
        CountDownLatch open = new CountDownLatch(1);
        ByteArrayOutputStream written = new ByteArrayOutputStream();
        OutputStream gate = new OutputStream() {
            @Override
            public void write(int b) {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                try {
                    open.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                synchronized (written) {
                    written.write(b, off, len);
                }
            }
        };
        PrintStream stdout = System.out;
        System.setOut(new PrintStream(gate, true, StandardCharsets.UTF_8));
        try {
            LogConfig.configure(null, false);
            org.slf4j.Logger access = LoggerFactory.getLogger("access");
            // The writer holds at most a queue's worth taken at once, the queue another: more than both must wait.
            int lines = 2 * LogQueue.LINES + 10;
            StringBuilder changing = new StringBuilder("when logged");
            AtomicInteger logged = new AtomicInteger();
            Thread logger = Thread.ofPlatform().name("test-logger").start(() -> {
                for (int i = 0; i < lines; i++) {
                    access.atInfo()
                            .addKeyValue("n", i)
                            .addKeyValue("state", i == 5 ? changing : null)
                            .log("connection complete");
                    logged.incrementAndGet();
                }
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            // Until the logger waits with a queue's worth behind it (it may wait briefly for other reasons before).
            while (!(logger.getState() == Thread.State.WAITING && logged.get() >= LogQueue.LINES)
                    && logger.isAlive()
                    && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertThat(logger.getState())
                    .as("the logger waits for room while stdout is stuck")
                    .isEqualTo(Thread.State.WAITING);
            assertThat(logged.get())
                    .as("a queue's worth went by without waiting for stdout, and the rest waits")
                    .isBetween(LogQueue.LINES, lines - 1);
            changing.replace(0, changing.length(), "later");
            open.countDown();
            logger.join(TimeUnit.SECONDS.toMillis(30));
            assertThat(logger.isAlive()).isFalse();
            LogConfig.flush();
            String[] out;
            synchronized (written) {
                out = written.toString(StandardCharsets.UTF_8).split("\n");
            }
            assertThat(out).hasSize(lines);
            for (int i = 0; i < lines; i++) {
                assertThat(out[i]).as("line %d", i).contains("\taccess\tconnection complete\tn=" + i);
            }
            assertThat(out[5]).endsWith("n=5 state=when logged");
        } finally {
            System.setOut(stdout);
        }
    }
}
