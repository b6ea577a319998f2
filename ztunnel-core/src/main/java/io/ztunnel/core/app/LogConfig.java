package io.ztunnel.core.app;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.JsonEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.slf4j.LoggerFactory;

/**
 * Log levels in ztunnel's {@code RUST_LOG} syntax and the output format ({@code LOG_FORMAT=json}).
 *
 * <p>{@code RUST_LOG} is a comma-separated list of {@code level} (the default) and {@code target=level} entries, e.g.
 * {@code info,access=debug}. Targets are logger names: {@code access} (access log), {@code authorization} (policy
 * decisions), or any class or package name such as {@code io.ztunnel.core.hbone}. Levels: error, warn, info, debug,
 * trace, off. Thread-safe (logback is).
 */
public final class LogConfig {
    private static volatile String startupSpec = "info";
    private static volatile String currentSpec = "info";

    private LogConfig() {}

    /** Parses {@code spec}; throws with the offending entry when it is not valid. */
    public static Map<String, Level> parse(String spec) {
        Map<String, Level> out = new LinkedHashMap<>();
        if (spec == null || spec.isBlank()) {
            return out;
        }
        for (String part : spec.split(",")) {
            String entry = part.trim();
            if (entry.isEmpty()) {
                continue;
            }
            int eq = entry.indexOf('=');
            String target = eq < 0 ? "" : entry.substring(0, eq).trim();
            String levelText = eq < 0 ? entry : entry.substring(eq + 1).trim();
            if (eq == 0 || (eq > 0 && target.isEmpty())) {
                throw new IllegalArgumentException("log level entry \"" + entry + "\" has an empty target");
            }
            out.put(target, level(levelText, entry));
        }
        return out;
    }

    private static Level level(String text, String entry) {
        return switch (text.toLowerCase(Locale.ROOT)) {
            case "error" -> Level.ERROR;
            case "warn", "warning" -> Level.WARN;
            case "info" -> Level.INFO;
            case "debug" -> Level.DEBUG;
            case "trace" -> Level.TRACE;
            case "off" -> Level.OFF;
            default ->
                throw new IllegalArgumentException("log level entry \"" + entry + "\": unknown level \"" + text
                        + "\" (expected error, warn, info, debug, trace or off)");
        };
    }

    /** Applies levels at start and remembers them for {@link #reset()}. */
    public static void configure(String spec, boolean json) {
        startupSpec = spec == null || spec.isBlank() ? "info" : spec;
        apply(startupSpec);
        if (json) {
            useJson();
        }
    }

    /** Applies {@code spec} on top of the startup levels (as ztunnel's admin {@code /logging} does). */
    public static synchronized void apply(String spec) {
        Map<String, Level> levels = parse(spec);
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        levels.forEach((target, level) -> context.getLogger(target.isEmpty() ? Logger.ROOT_LOGGER_NAME : target)
                .setLevel(level));
        currentSpec = spec;
    }

    /** Back to the startup levels: every logger we touched is reset, then the startup spec applied. */
    public static synchronized void reset() {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        List<Logger> loggers = new ArrayList<>(context.getLoggerList());
        for (Logger logger : loggers) {
            if (!logger.getName().equals(Logger.ROOT_LOGGER_NAME)
                    && !logger.getName().startsWith("io.netty")
                    && !logger.getName().startsWith("io.grpc")) {
                logger.setLevel(null);
            }
        }
        apply(startupSpec);
    }

    public static String current() {
        return currentSpec;
    }

    /** One JSON object per line: timestamp, level, logger, message, and the structured fields in {@code kvpList}. */
    static JsonEncoder jsonEncoder(LoggerContext context) {
        JsonEncoder encoder = new JsonEncoder();
        encoder.setContext(context);
        encoder.setWithSequenceNumber(false);
        encoder.setWithNanoseconds(false);
        encoder.setWithContext(false);
        encoder.setWithMDC(false);
        encoder.start();
        return encoder;
    }

    private static void useJson() {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        ConsoleAppender<ILoggingEvent> appender = new ConsoleAppender<>();
        appender.setContext(context);
        appender.setName("JSON");
        appender.setEncoder(jsonEncoder(context));
        appender.start();
        root.detachAndStopAllAppenders();
        root.addAppender(appender);
    }
}
