package io.ztunnel.core.app;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.encoder.EncoderBase;
import io.ztunnel.core.util.JsonText;
import io.ztunnel.core.util.LogSpan;
import io.ztunnel.core.util.LogValues;
import io.ztunnel.xds.ads.DeltaAdsClient;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;
import org.slf4j.event.KeyValuePair;

/**
 * Writes log events the way Istio's ztunnel does, one line per event, in its plain format or (with {@link #setJson})
 * its JSON format.
 *
 * <p>Plain: {@code <time>TAB<level>TAB<target>[:<span>{k=v …}]*[TAB<message>TAB<fields>]}, e.g. {@code
 * 2026-10-10T01:00:04.396760Z	info	access	connection complete	src.addr=10.0.0.1:4000 direction="outbound"
 * bytes_sent=84}. The time is RFC 3339 UTC with microseconds; the level lower case; the target the upstream module name
 * without {@code ztunnel::} ({@link LogTargets}); the message raw and always followed by a TAB; then the structured
 * key-value fields separated by spaces, their values written by kind ({@link LogValues}): text quoted with Rust's
 * escapes, numbers, booleans and display values bare; null fields left out. The spans of an event logged inside
 * one ({@link LogSpan}, passed as a key-value pair) follow the target root first, each after a colon: {@code
 * proxy::inbound:proxy{wl=ns/a}:inbound{id=4bf9… peer=10.0.0.1:40000}}.
 *
 * <p>JSON: one compact object, keys {@code level}, {@code time}, {@code scope} (the full target), {@code message}, then
 * the fields flat at the top level in the order logged; numbers and booleans typed, everything else a string; then one
 * key per span, root first, each an object of the span's fields ({@code "inbound":{"id":"4bf9…","peer":"…"}}).
 *
 * <p>A throwable attached to an event is written as one more field ({@code error}, or {@code cause} when the event has
 * an {@code error} field already) holding its message chain, so an event stays one line. Its stack trace follows only
 * when DEBUG is enabled for the event's logger: on the following lines (plain) or in a {@code stack} field (JSON).
 *
 * <p>Thread-safe: encoding keeps no state between events except an immutable cache of the current second's text.
 */
public final class LogEncoder extends EncoderBase<ILoggingEvent> {
    private static final byte[] NONE = new byte[0];

    private boolean json;
    private volatile SecondText second = new SecondText(Long.MIN_VALUE, "");

    /** The cached text of one UTC second: {@code 2026-10-10T01:00:04.} */
    private record SecondText(long epochSecond, String text) {}

    public LogEncoder() {}

    /** An encoder for {@code context}, started. */
    public static LogEncoder create(LoggerContext context, boolean json) {
        LogEncoder encoder = new LogEncoder();
        encoder.setContext(context);
        encoder.setJson(json);
        encoder.start();
        return encoder;
    }

    /** JSON lines instead of the plain format (logback configuration property {@code json}). */
    public void setJson(boolean json) {
        this.json = json;
    }

    public boolean isJson() {
        return json;
    }

    @Override
    public byte[] headerBytes() {
        return NONE;
    }

    @Override
    public byte[] footerBytes() {
        return NONE;
    }

    @Override
    public byte[] encode(ILoggingEvent event) {
        StringBuilder out = new StringBuilder(256);
        if (json) {
            json(event, out);
        } else {
            plain(event, out);
        }
        return out.toString().getBytes(StandardCharsets.UTF_8);
    }

    private void plain(ILoggingEvent event, StringBuilder out) {
        time(event.getInstant(), out);
        out.append('\t').append(level(event.getLevel())).append('\t');
        out.append(LogTargets.shortTarget(LogTargets.target(event.getLoggerName())));
        List<KeyValuePair> fields = fields(event);
        LogSpan span = span(event, fields);
        if (span != null) {
            out.append(':');
            span.appendTo(out);
        }
        String message = event.getFormattedMessage();
        IThrowableProxy thrown = event.getThrowableProxy();
        boolean hasMessage = message != null && !message.isEmpty();
        if (hasMessage || hasFields(fields) || thrown != null) {
            out.append('\t');
        }
        if (hasMessage) {
            out.append(message).append('\t');
        }
        boolean first = true;
        for (KeyValuePair kv : fields) {
            if (skipped(kv)) {
                continue;
            }
            if (!first) {
                out.append(' ');
            }
            first = false;
            out.append(kv.key).append('=');
            plainValue(kv.value, out);
        }
        if (thrown != null) {
            if (!first) {
                out.append(' ');
            }
            out.append(causeKey(fields)).append('=');
            quote(describe(thrown), out);
            if (debugEnabled(event)) {
                out.append('\n').append(stripTrailingNewline(ThrowableProxyUtil.asString(thrown)));
            }
        }
        out.append('\n');
    }

    private void json(ILoggingEvent event, StringBuilder out) {
        out.append("{\"level\":\"").append(level(event.getLevel())).append("\",\"time\":\"");
        time(event.getInstant(), out);
        out.append("\",\"scope\":");
        jsonString(LogTargets.target(event.getLoggerName()), out);
        String message = event.getFormattedMessage();
        if (message != null && !message.isEmpty()) {
            out.append(",\"message\":");
            jsonString(message, out);
        }
        List<KeyValuePair> fields = fields(event);
        for (KeyValuePair kv : fields) {
            if (skipped(kv)) {
                continue;
            }
            out.append(',');
            jsonString(kv.key, out);
            out.append(':');
            jsonValue(kv.value, out);
        }
        IThrowableProxy thrown = event.getThrowableProxy();
        if (thrown != null) {
            out.append(',');
            jsonString(causeKey(fields), out);
            out.append(':');
            jsonString(describe(thrown), out);
            if (debugEnabled(event)) {
                out.append(",\"stack\":");
                jsonString(stripTrailingNewline(ThrowableProxyUtil.asString(thrown)), out);
            }
        }
        LogSpan span = span(event, fields);
        if (span != null) {
            jsonSpans(span, out);
        }
        out.append("}\n");
    }

    /** One key per span, root first: the span's name, then an object of its fields. */
    private static void jsonSpans(LogSpan span, StringBuilder out) {
        LogSpan parent = span.parent();
        if (parent != null) {
            jsonSpans(parent, out);
        }
        out.append(',');
        jsonString(span.name(), out);
        out.append(":{");
        for (int i = 0; i < span.fieldCount(); i++) {
            if (i > 0) {
                out.append(',');
            }
            jsonString(span.key(i), out);
            out.append(':');
            jsonValue(span.value(i), out);
        }
        out.append('}');
    }

    /**
     * The span the event was logged in: a {@link LogSpan} value among its fields, else, on the xDS client's thread, the
     * connection attempt it set in the MDC ({@link DeltaAdsClient#LOG_CONNECTION_KEY}) as {@code xds{id=N}}; or null.
     */
    private @Nullable LogSpan span(ILoggingEvent event, List<KeyValuePair> fields) {
        for (KeyValuePair kv : fields) {
            if (kv.value instanceof LogSpan span) {
                return span;
            }
        }
        if (!(getContext() instanceof LoggerContext context) || context.getMDCAdapter() == null) {
            return null; // a context without an MDC (tests): the event has none to read
        }
        Map<String, String> mdc = event.getMDCPropertyMap();
        String xds = mdc == null ? null : mdc.get(DeltaAdsClient.LOG_CONNECTION_KEY);
        if (xds != null) {
            Object id = xds;
            try {
                id = Long.parseLong(xds);
            } catch (NumberFormatException e) {
                // not a number: shown as text
            }
            return LogSpan.of(null, "xds", "id", id);
        }
        return null;
    }

    /** Fields not written as fields: null values, {@code log.*} (as upstream) and the span. */
    private static boolean skipped(KeyValuePair kv) {
        return kv.value == null || kv.key == null || kv.key.startsWith("log.") || kv.value instanceof LogSpan;
    }

    private static boolean hasFields(List<KeyValuePair> fields) {
        for (KeyValuePair kv : fields) {
            if (!skipped(kv)) {
                return true;
            }
        }
        return false;
    }

    private static List<KeyValuePair> fields(ILoggingEvent event) {
        List<KeyValuePair> kvs = event.getKeyValuePairs();
        return kvs == null ? List.of() : kvs;
    }

    private static String causeKey(List<KeyValuePair> fields) {
        for (KeyValuePair kv : fields) {
            if ("error".equals(kv.key)) {
                return "cause";
            }
        }
        return "error";
    }

    /** The throwable's message chain, {@code message: cause message: ...}, without repeats. */
    static String describe(IThrowableProxy thrown) {
        StringBuilder out = new StringBuilder();
        String previous = null;
        for (IThrowableProxy t = thrown; t != null; t = t.getCause()) {
            String text = t.getMessage() != null && !t.getMessage().isEmpty()
                    ? t.getMessage()
                    : t.getClassName().substring(t.getClassName().lastIndexOf('.') + 1);
            if (previous != null && previous.contains(text)) {
                continue;
            }
            if (!out.isEmpty()) {
                out.append(": ");
            }
            out.append(text);
            previous = text;
            if (t.getCause() == t) {
                break;
            }
        }
        return out.toString();
    }

    private boolean debugEnabled(ILoggingEvent event) {
        return getContext() instanceof LoggerContext context
                && context.getLogger(event.getLoggerName()).isDebugEnabled();
    }

    private static String stripTrailingNewline(String text) {
        int end = text.length();
        while (end > 0 && (text.charAt(end - 1) == '\n' || text.charAt(end - 1) == '\r')) {
            end--;
        }
        return text.substring(0, end);
    }

    static String level(Level level) {
        return switch (level.toInt()) {
            case Level.ERROR_INT -> "error";
            case Level.WARN_INT -> "warn";
            case Level.INFO_INT -> "info";
            case Level.DEBUG_INT -> "debug";
            default -> "trace";
        };
    }

    /** RFC 3339, UTC, microseconds: {@code 2026-10-10T01:00:04.396760Z}. */
    private void time(Instant instant, StringBuilder out) {
        long epochSecond = instant.getEpochSecond();
        SecondText cached = second;
        if (cached.epochSecond() != epochSecond) {
            LocalDateTime t = LocalDateTime.ofEpochSecond(epochSecond, 0, ZoneOffset.UTC);
            StringBuilder s = new StringBuilder(20);
            pad(s, t.getYear(), 4).append('-');
            pad(s, t.getMonthValue(), 2).append('-');
            pad(s, t.getDayOfMonth(), 2).append('T');
            pad(s, t.getHour(), 2).append(':');
            pad(s, t.getMinute(), 2).append(':');
            pad(s, t.getSecond(), 2).append('.');
            cached = new SecondText(epochSecond, s.toString());
            second = cached;
        }
        out.append(cached.text());
        pad(out, instant.getNano() / 1000, 6).append('Z');
    }

    private static StringBuilder pad(StringBuilder out, int value, int width) {
        String digits = Integer.toString(value);
        for (int i = digits.length(); i < width; i++) {
            out.append('0');
        }
        return out.append(digits);
    }

    private static void plainValue(Object value, StringBuilder out) {
        switch (value) {
            case String s -> quote(s, out);
            case Character c -> quote(c.toString(), out);
            default -> out.append(value);
        }
    }

    private static void jsonValue(Object value, StringBuilder out) {
        switch (value) {
            case Boolean b -> out.append(b.booleanValue());
            case Double d when d.isNaN() || d.isInfinite() -> out.append("null");
            case Float f when f.isNaN() || f.isInfinite() -> out.append("null");
            case Number n -> out.append(n);
            case LogValues.Display d -> jsonString(d.text(), out);
            default -> jsonString(Objects.toString(value), out);
        }
    }

    /** A string as Rust's {@code Debug} writes it: double-quoted, with escapes for quotes, backslashes, controls. */
    static void quote(String s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            i += Character.charCount(c);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case 0 -> out.append("\\0");
                default -> {
                    if (printable(c)) {
                        out.appendCodePoint(c);
                    } else {
                        out.append("\\u{").append(Integer.toHexString(c)).append('}');
                    }
                }
            }
        }
        out.append('"');
    }

    private static boolean printable(int c) {
        if (c == ' ') {
            return true;
        }
        // Rust escapes what it cannot print and, in strings, grapheme extenders (combining marks).
        return switch (Character.getType(c)) {
            case Character.CONTROL,
                    Character.NON_SPACING_MARK,
                    Character.ENCLOSING_MARK,
                    Character.FORMAT,
                    Character.UNASSIGNED,
                    Character.PRIVATE_USE,
                    Character.SURROGATE,
                    Character.LINE_SEPARATOR,
                    Character.PARAGRAPH_SEPARATOR,
                    Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }

    /** A JSON string as serde_json writes it; null as {@code null}. */
    static void jsonString(@Nullable String s, StringBuilder out) {
        if (s == null) {
            out.append("null");
        } else {
            JsonText.string(s, out);
        }
    }
}
