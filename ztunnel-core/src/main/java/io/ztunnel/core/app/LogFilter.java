package io.ztunnel.core.app;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.turbo.TurboFilter;
import ch.qos.logback.core.spi.FilterReply;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Marker;

/**
 * Decides every log event (and every {@code isDebugEnabled()}-style check) from a {@link LogDirectives} filter, as
 * Istio's ztunnel does with {@code RUST_LOG}: a logger is matched by its upstream target ({@link LogTargets}) and by its
 * Java name, the most specific directive wins, and what no directive enables is off. Logger levels are not consulted
 * while this filter is installed: it answers {@code ACCEPT} or {@code DENY}.
 *
 * <p>Deliberate difference: libraries' loggers (Netty, gRPC) are held at INFO by the default directive ({@code
 * RUST_LOG=debug} does not turn on Netty's debug output); a directive naming them (e.g. {@code io.netty=debug}) does.
 *
 * <p>Thread-safe: the directives are an immutable snapshot behind a volatile reference, with a per-logger threshold
 * cache that is replaced with them.
 */
public final class LogFilter extends TurboFilter {
    /** A directive set and the thresholds computed from it so far. */
    private record Snapshot(LogDirectives directives, Map<String, Level> thresholds) {}

    private volatile Snapshot snapshot;

    public LogFilter(LogDirectives directives) {
        this.snapshot = new Snapshot(directives, new ConcurrentHashMap<>());
    }

    /** Replaces the directives; takes effect for the next event. */
    public void directives(LogDirectives directives) {
        snapshot = new Snapshot(directives, new ConcurrentHashMap<>());
    }

    public LogDirectives directives() {
        return snapshot.directives();
    }

    /** Whether an event at {@code level} from logger {@code loggerName} passes. */
    public boolean enabled(String loggerName, Level level) {
        return level.isGreaterOrEqual(threshold(loggerName));
    }

    Level threshold(String loggerName) {
        Snapshot s = snapshot;
        Level cached = s.thresholds().get(loggerName);
        if (cached == null) {
            String target = LogTargets.target(loggerName);
            List<String> names = target.equals(loggerName) ? List.of(loggerName) : List.of(target, loggerName);
            cached = s.directives().threshold(names, LogTargets.ours(loggerName) ? null : Level.INFO);
            s.thresholds().put(loggerName, cached);
        }
        return cached;
    }

    @Override
    public FilterReply decide(Marker marker, Logger logger, Level level, String format, Object[] params, Throwable t) {
        if (level == null) {
            return FilterReply.NEUTRAL;
        }
        return enabled(logger.getName(), level) ? FilterReply.ACCEPT : FilterReply.DENY;
    }
}
