package io.ztunnel.core.app;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.turbo.TurboFilter;
import ch.qos.logback.core.ConsoleAppender;
import java.util.Arrays;
import org.jspecify.annotations.Nullable;
import org.slf4j.LoggerFactory;

/**
 * The daemon's logging set-up, as Istio's ztunnel: the {@code RUST_LOG} filter ({@link LogDirectives}, applied by a
 * {@link LogFilter}), the output format ({@link LogEncoder}, plain or {@code LOG_FORMAT=json}) and the changes
 * {@code POST /logging} makes.
 *
 * <p>The startup filter is {@code hickory_server::server=off,} followed by {@code RUST_LOG}, or
 * {@code hickory_server::server=off,info} when it is unset. Targets are upstream's ({@code access},
 * {@code ztunnel::proxy::inbound}, ...) or our Java logger names ({@code io.ztunnel.core.hbone}); see
 * {@link LogTargets}.
 *
 * <p>Thread-safe: changes are serialized; readers see the last complete filter.
 */
public final class LogConfig {
    /** What upstream always puts first: its DNS server library's per-query logs are off unless asked for. */
    static final String PREFIX = "hickory_server::server=off";

    static final LogDirectives DEFAULT = LogDirectives.parse(PREFIX + ",info");

    private static final String[] LEVELS = {"off", "error", "warn", "info", "debug", "trace"};

    private static volatile LogDirectives startup = DEFAULT;

    private static boolean flushOnExit;

    private LogConfig() {}

    /** The startup filter for {@code RUST_LOG} (null when unset); throws naming the clause that does not parse. */
    public static LogDirectives startupFilter(@Nullable String rustLog) {
        return rustLog == null ? DEFAULT : LogDirectives.parse(PREFIX + "," + rustLog);
    }

    /**
     * Installs the filter for {@code rustLog} and the output format on the root logger's console, behind a queue of
     * {@value LogQueue#LINES} lines ({@link LogQueue}: written by one thread, never dropped), and remembers the
     * filter for {@code /logging?reset}. The first call also installs a shutdown hook that writes out the queue.
     * Throws {@link IllegalArgumentException} when {@code rustLog} does not parse.
     */
    public static synchronized void configure(@Nullable String rustLog, boolean json) {
        LogDirectives directives = startupFilter(rustLog);
        startup = directives;
        filter().directives(directives);
        LoggerContext context = context();
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        ConsoleAppender<ILoggingEvent> console = new ConsoleAppender<>();
        console.setContext(context);
        console.setName("CONSOLE");
        console.setEncoder(LogEncoder.create(context, json));
        console.start();
        LogQueue queue = new LogQueue(context, console);
        queue.start();
        root.detachAndStopAllAppenders();
        root.addAppender(queue);
        if (!flushOnExit) {
            flushOnExit = true;
            Runtime.getRuntime()
                    .addShutdownHook(
                            Thread.ofPlatform().name("ztunnel-log-flush").unstarted(LogConfig::flush));
        }
    }

    /**
     * Writes out the queued lines (for at most {@value LogQueue#FLUSH_MILLIS} ms) and stops the output: for the last
     * moments of the process (a shutdown hook installed by {@link #configure} calls it; so must code that halts).
     * Later events are not written.
     */
    public static void flush() {
        context().getLogger(Logger.ROOT_LOGGER_NAME).detachAndStopAllAppenders();
    }

    /**
     * What {@code POST /logging} does: with {@code reset}, the startup filter followed by {@code level}; otherwise the
     * current filter followed by {@code level} (a directive for a target already present replaces it). Returns the
     * new filter. Throws {@link IllegalArgumentException} when {@code level} is not accepted: each comma-separated
     * clause must be one of {@code off error warn info debug trace} or a {@code target=level} directive (the
     * {@code target:level} form of upstream's help text is refused, as upstream refuses it).
     */
    public static synchronized LogDirectives change(boolean reset, String level) {
        if (!level.isEmpty()) {
            validate(level);
        }
        LogDirectives base = reset ? startup : current();
        LogDirectives next = level.isEmpty() ? base : base.plus(level);
        filter().directives(next);
        LoggerFactory.getLogger(LogConfig.class)
                .atInfo()
                .addKeyValue("filter", next.toString())
                .log("new log filter");
        return next;
    }

    /** Upstream's admin rule for a {@code level} parameter; throws when a clause is not accepted. */
    static void validate(String level) {
        for (String clause : level.split(",", -1)) {
            if (Arrays.asList(LEVELS).contains(clause)) {
                continue;
            }
            if (!clause.contains("=")) {
                throw new IllegalArgumentException("level " + clause + " is invalid");
            }
            LogDirectives.parse(clause);
        }
    }

    /** The filter in force. */
    public static LogDirectives current() {
        return filter().directives();
    }

    /** The filter installed on the logger context (installing one with the default directives if there is none). */
    static synchronized LogFilter filter() {
        LoggerContext context = context();
        for (TurboFilter f : context.getTurboFilterList()) {
            if (f instanceof LogFilter ours) {
                return ours;
            }
        }
        LogFilter ours = new LogFilter(startup);
        ours.setContext(context);
        ours.start();
        context.addTurboFilter(ours);
        return ours;
    }

    /** Removes the filter: logger levels decide again (tests). */
    static synchronized void uninstall() {
        context().getTurboFilterList().removeIf(f -> f instanceof LogFilter);
        startup = DEFAULT;
    }

    private static LoggerContext context() {
        return (LoggerContext) LoggerFactory.getILoggerFactory();
    }
}
