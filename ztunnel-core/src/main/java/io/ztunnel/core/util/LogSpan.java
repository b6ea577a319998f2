package io.ztunnel.core.util;

import java.net.InetSocketAddress;
import java.util.concurrent.ThreadLocalRandom;
import org.jspecify.annotations.Nullable;

/**
 * The context a log line was written in, as Istio ztunnel's tracing spans give it: a name and up to two fields, inside
 * an optional parent, e.g. {@code proxy{wl=ns/name}:inbound{id=… peer=…}}. Upstream's spans are
 * {@code proxy{wl=ns/name}} and {@code dns_proxy{wl=ns/name}} (a pod's proxies, in-pod mode), {@code outbound{id=…}}
 * and {@code inbound{id=… peer=…}} (one proxied connection; the id is the connection's W3C trace id) and
 * {@code xds{id=N}} (one xDS connection attempt).
 *
 * <p>How a line gets its spans: the code that logs passes the innermost span as a key-value pair under {@link #KEY}
 * ({@code log.atDebug().addKeyValue(LogSpan.KEY, span)…}); the encoder recognises the value by its type and writes the
 * chain root first (plain: after the target; JSON: one key per span after the fields). A {@code null} span is simply
 * no span. Spans are created once per proxy or connection, not per line, and never read thread-local state: a line
 * carries exactly the span its call site names, whichever event loop it runs on, and a line whose level is off costs
 * nothing (SLF4J's no-op builder drops the pair). One exception: the xDS client (a module without this type) runs on a
 * thread of its own and puts its attempt number in the MDC there, which the encoder writes as {@code xds{id=N}}.
 *
 * <p>Field values are written as upstream's {@code %} (display) fields: their text bare in the plain format and a
 * string in JSON, except numbers and booleans, which stay typed; socket addresses as {@code ip:port} ({@code
 * [v6]:port}). Access-log events are root events upstream and never carry a span.
 *
 * <p>Immutable and thread-safe (values must be immutable too).
 */
public final class LogSpan {
    /** The key-value key a span is passed under. */
    public static final String KEY = "span";

    private final @Nullable LogSpan parent;
    private final String name;
    private final String key1;
    private final Object value1;
    private final @Nullable String key2;
    private final @Nullable Object value2;

    private LogSpan(
            @Nullable LogSpan parent,
            String name,
            String key1,
            Object value1,
            @Nullable String key2,
            @Nullable Object value2) {
        this.parent = parent;
        this.name = name;
        this.key1 = key1;
        this.value1 = value1;
        this.key2 = key2;
        this.value2 = value2;
    }

    /** A span {@code name{key=value}} inside {@code parent} (null: a root span). */
    public static LogSpan of(@Nullable LogSpan parent, String name, String key, Object value) {
        return new LogSpan(parent, name, key, value, null, null);
    }

    /** A span {@code name{key1=value1 key2=value2}} inside {@code parent} (null: a root span). */
    public static LogSpan of(
            @Nullable LogSpan parent, String name, String key1, Object value1, String key2, Object value2) {
        return new LogSpan(parent, name, key1, value1, key2, value2);
    }

    /** A pod's proxy span, {@code proxy{wl=namespace/name}}. */
    public static LogSpan proxy(String namespace, String name) {
        return of(null, "proxy", "wl", namespace + "/" + name);
    }

    /** A pod's DNS proxy span, {@code dns_proxy{wl=namespace/name}}. */
    public static LogSpan dnsProxy(String namespace, String name) {
        return of(null, "dns_proxy", "wl", namespace + "/" + name);
    }

    /** An outbound connection's span, {@code outbound{id=<trace id>}}, inside {@code parent}. */
    public static LogSpan outbound(@Nullable LogSpan parent, @Nullable CharSequence traceParent) {
        return of(parent, "outbound", "id", traceId(traceParent));
    }

    /**
     * An inbound HBONE request's span, {@code inbound{id=<trace id> peer=<ip:port>}}, inside {@code parent}: the id is
     * the trace id of the {@code traceparent} the client sent, or a fresh one when it sent none that parses.
     */
    public static LogSpan inbound(
            @Nullable LogSpan parent, @Nullable CharSequence traceParent, InetSocketAddress peer) {
        return of(parent, "inbound", "id", traceId(traceParent), "peer", peer);
    }

    /**
     * The trace id of a W3C {@code traceparent} ({@code 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>}), or a
     * fresh random one when {@code traceParent} is null or not of that form. Written as 32 lower-case hex digits.
     */
    static TraceId traceId(@Nullable CharSequence traceParent) {
        if (traceParent != null
                && traceParent.length() == 55
                && traceParent.charAt(2) == '-'
                && traceParent.charAt(35) == '-'
                && traceParent.charAt(52) == '-') {
            try {
                return new TraceId(
                        Long.parseUnsignedLong(traceParent, 3, 19, 16),
                        Long.parseUnsignedLong(traceParent, 19, 35, 16));
            } catch (NumberFormatException e) {
                // not hex: a fresh id, as upstream does for a traceparent it cannot parse
            }
        }
        ThreadLocalRandom r = ThreadLocalRandom.current();
        return new TraceId(r.nextLong(), r.nextLong());
    }

    /** A 128-bit trace id, written (when a line is written, not before) as 32 lower-case hex digits. */
    record TraceId(long high, long low) {
        @Override
        public String toString() {
            StringBuilder out = new StringBuilder(32);
            hex(out, high);
            hex(out, low);
            return out.toString();
        }

        private static void hex(StringBuilder out, long v) {
            for (int shift = 60; shift >= 0; shift -= 4) {
                out.append(Character.forDigit((int) (v >>> shift) & 0xf, 16));
            }
        }
    }

    public @Nullable LogSpan parent() {
        return parent;
    }

    public String name() {
        return name;
    }

    /** How many fields the span has (1 or 2). */
    public int fieldCount() {
        return key2 == null ? 1 : 2;
    }

    /** Field {@code i}'s name. */
    public String key(int i) {
        return i == 0 ? key1 : requireSecond(key2);
    }

    /**
     * Field {@code i}'s value: a number or boolean as it is, anything else as its text (a socket address as {@code
     * ip:port}).
     */
    public Object value(int i) {
        Object v = i == 0 ? value1 : requireSecond(value2);
        if (v instanceof InetSocketAddress a) {
            LogValues.Display text = LogValues.address(a);
            return text == null ? "" : text.text();
        }
        return v instanceof Number || v instanceof Boolean ? v : v.toString();
    }

    private static <T> T requireSecond(@Nullable T second) {
        if (second == null) {
            throw new IndexOutOfBoundsException("the span has one field");
        }
        return second;
    }

    /** The chain as the plain format writes it, root first: {@code proxy{wl=ns/a}:inbound{id=… peer=…}}. */
    @Override
    public String toString() {
        StringBuilder out = new StringBuilder();
        appendTo(out);
        return out.toString();
    }

    /** Appends the chain as the plain format writes it, root first, without a leading colon. */
    public void appendTo(StringBuilder out) {
        if (parent != null) {
            parent.appendTo(out);
            out.append(':');
        }
        out.append(name).append('{');
        for (int i = 0; i < fieldCount(); i++) {
            if (i > 0) {
                out.append(' ');
            }
            out.append(key(i)).append('=').append(value(i));
        }
        out.append('}');
    }
}
