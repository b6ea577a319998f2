package io.ztunnel.core.config;

import io.ztunnel.core.util.Errors;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Typed reads of environment variables with ztunnel's value formats (booleans {@code true}/{@code false}, sizes,
 * durations like {@code 24h} or {@code 1m30s}); every failure names the variable. Immutable; a copy of the environment taken at construction.
 */
public final class Env {
    private static final Pattern DURATION_PART = Pattern.compile("(\\d+(?:\\.\\d+)?)(ms|us|µs|ns|s|m|h|d)");

    private final Map<String, String> vars;

    public Env(Map<String, String> vars) {
        this.vars = Map.copyOf(vars);
    }

    public static Env system() {
        return new Env(System.getenv());
    }

    /** The raw value, or null when unset. An empty string is a set value. */
    public @Nullable String raw(String name) {
        return vars.get(name);
    }

    public boolean isSet(String name) {
        return vars.containsKey(name);
    }

    public String string(String name, String fallback) {
        String v = vars.get(name);
        return v == null ? fallback : v;
    }

    /** Non-empty value, or {@code null} when unset or empty. */
    public @Nullable String nonEmpty(String name) {
        String v = vars.get(name);
        return v == null || v.isEmpty() ? null : v;
    }

    /** Non-empty value or fallback (an empty value counts as unset). */
    public String nonEmpty(String name, String fallback) {
        String v = vars.get(name);
        return v == null || v.isEmpty() ? fallback : v;
    }

    /**
     * A boolean as upstream reads one: exactly {@code true} or {@code false}; anything else, an empty value included,
     * is an error naming the variable. Unset: {@code fallback}.
     */
    public boolean bool(String name, boolean fallback) {
        String v = vars.get(name);
        if (v == null) {
            return fallback;
        }
        return switch (v) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new ConfigException(name + "=" + v + ": expected true or false");
        };
    }

    /** A tri-state boolean: null when unset; otherwise as {@link #bool}. */
    public @Nullable Boolean optionalBool(String name) {
        return vars.containsKey(name) ? bool(name, false) : null;
    }

    public int integer(String name, int fallback, int min, int max) {
        String v = vars.get(name);
        if (v == null || v.isEmpty()) {
            return fallback;
        }
        try {
            long parsed = Long.parseLong(v.trim());
            if (parsed < min || parsed > max) {
                throw new ConfigException(name + "=" + v + ": expected a number in " + min + ".." + max);
            }
            return (int) parsed;
        } catch (NumberFormatException e) {
            throw new ConfigException(name + "=" + v + ": expected a whole number");
        }
    }

    /** A duration such as {@code 24h}, {@code 5m}, {@code 1m30s}, {@code 250ms}; a bare number means seconds. */
    public Duration duration(String name, Duration fallback) {
        String v = vars.get(name);
        if (v == null || v.isEmpty()) {
            return fallback;
        }
        try {
            return parseDuration(v);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(name + "=" + v + ": " + Errors.message(e));
        }
    }

    static Duration parseDuration(String text) {
        String s = text.trim();
        if (s.matches("\\d+")) {
            return Duration.ofSeconds(Long.parseLong(s));
        }
        Matcher m = DURATION_PART.matcher(s);
        int at = 0;
        long nanos = 0;
        while (m.find()) {
            if (m.start() != at) {
                break;
            }
            double amount = Double.parseDouble(m.group(1));
            long unit = switch (m.group(2)) {
                case "ns" -> 1L;
                case "us", "µs" -> 1_000L;
                case "ms" -> 1_000_000L;
                case "s" -> 1_000_000_000L;
                case "m" -> 60_000_000_000L;
                case "h" -> 3_600_000_000_000L;
                default -> 86_400_000_000_000L;
            };
            nanos += (long) (amount * unit);
            at = m.end();
        }
        if (at != s.length() || at == 0) {
            throw new IllegalArgumentException("expected a duration like 24h, 5m, 1m30s or 250ms");
        }
        return Duration.ofNanos(nanos);
    }

    /** Every variable whose name starts with {@code prefix}, the prefix removed, sorted. */
    public Map<String, String> withPrefix(String prefix) {
        Map<String, String> out = new TreeMap<>();
        vars.forEach((k, v) -> {
            if (k.startsWith(prefix) && k.length() > prefix.length()) {
                out.put(k.substring(prefix.length()), v);
            }
        });
        return out;
    }
}
