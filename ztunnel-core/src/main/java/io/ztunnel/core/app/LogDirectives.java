package io.ztunnel.core.app;

import ch.qos.logback.classic.Level;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * A log filter in Istio ztunnel's {@code RUST_LOG} syntax (the Rust tracing library's "targets" filter): a
 * comma-separated list of directives, each {@code level} (the default for every target not named), {@code target=level}
 * or a bare {@code target} (meaning {@code trace}). Immutable.
 *
 * <p>Semantics, as upstream:
 *
 * <ul>
 *   <li>a directive applies to an event whose target starts with the directive's target (a plain string prefix);
 *   <li>the most specific directive wins: the longest matching target, then the default; with no default, targets
 *       nobody named are off;
 *   <li>a later directive for the same target replaces the earlier one;
 *   <li>levels are {@code off error warn info debug trace} in any case, or {@code 0}-{@code 5}; an empty level is
 *       {@code error}.
 * </ul>
 *
 * <p>{@link #toString()} writes the canonical form upstream answers on {@code /logging}: longer targets first, equal
 * lengths in reverse lexical order, the default last, levels in lower case.
 */
public final class LogDirectives {
    /** One directive: {@code target} is null for the default. */
    public record Directive(@Nullable String target, Level level) {
        @Override
        public String toString() {
            return target == null ? name(level) : target + "=" + name(level);
        }
    }

    /** Most specific first: targeted before the default, longer targets first, then reverse lexical order. */
    private static final Comparator<Directive> SPECIFICITY = Comparator.<Directive>comparingInt(
                    d -> d.target() == null ? -1 : d.target().length())
            .thenComparing(d -> d.target() == null ? "" : d.target())
            .reversed();

    private final List<Directive> directives;

    private LogDirectives(List<Directive> directives) {
        this.directives = List.copyOf(directives);
    }

    /**
     * Parses {@code spec}; throws {@link IllegalArgumentException} naming the offending clause when it does not parse.
     */
    public static LogDirectives parse(String spec) {
        return new LogDirectives(List.of()).plus(spec);
    }

    /** This filter with {@code spec}'s directives added: a directive for a target already present replaces it. */
    public LogDirectives plus(String spec) {
        List<Directive> out = new ArrayList<>(directives);
        for (String clause : spec.split(",", -1)) {
            Directive d = directive(clause);
            out.removeIf(existing -> Objects.equals(existing.target(), d.target()));
            out.add(d);
        }
        out.sort(SPECIFICITY);
        return new LogDirectives(out);
    }

    private static Directive directive(String clause) {
        String[] parts = clause.split("=", -1);
        if (parts.length > 2) {
            throw new IllegalArgumentException(
                    "invalid filter directive \"" + clause + "\": too many '=', expected 0 or 1");
        }
        if (parts.length == 2) {
            if (parts[0].contains("[")) {
                throw new IllegalArgumentException(
                        "invalid filter directive \"" + clause + "\": field filters are not supported");
            }
            Level level = level(parts[1]);
            if (level == null) {
                throw new IllegalArgumentException("invalid filter directive \"" + clause + "\": unknown level \""
                        + parts[1] + "\" (expected off, error, warn, info, debug or trace)");
            }
            return new Directive(parts[0], level);
        }
        Level level = level(clause);
        return level != null ? new Directive(null, level) : new Directive(clause, Level.TRACE);
    }

    /** A level as upstream reads it (names in any case, 0-5, empty = error), or null. */
    static @Nullable Level level(String text) {
        return switch (text.toLowerCase(Locale.ROOT)) {
            case "off", "0" -> Level.OFF;
            case "error", "1", "" -> Level.ERROR;
            case "warn", "2" -> Level.WARN;
            case "info", "3" -> Level.INFO;
            case "debug", "4" -> Level.DEBUG;
            case "trace", "5" -> Level.TRACE;
            default -> null;
        };
    }

    /** Upstream's spelling of a level. */
    static String name(Level level) {
        return level.toString().toLowerCase(Locale.ROOT);
    }

    /**
     * The level threshold for an event whose target is any of {@code names}: the most specific directive whose target
     * is a prefix of one of them, else the default, else {@link Level#OFF}.
     *
     * @param defaultCap the least severe level the default may enable (for libraries kept quieter than our code), or
     *     null for none
     */
    public Level threshold(List<String> names, @Nullable Level defaultCap) {
        for (Directive d : directives) {
            if (d.target() == null) {
                if (defaultCap != null && !d.level().isGreaterOrEqual(defaultCap)) {
                    return defaultCap;
                }
                return d.level();
            }
            for (String name : names) {
                if (name.startsWith(d.target())) {
                    return d.level();
                }
            }
        }
        return Level.OFF;
    }

    public List<Directive> directives() {
        return directives;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LogDirectives other && other.directives.equals(directives);
    }

    @Override
    public int hashCode() {
        return directives.hashCode();
    }

    @Override
    public String toString() {
        StringBuilder out = new StringBuilder();
        for (Directive d : directives) {
            if (!out.isEmpty()) {
                out.append(',');
            }
            out.append(d);
        }
        return out.toString();
    }
}
