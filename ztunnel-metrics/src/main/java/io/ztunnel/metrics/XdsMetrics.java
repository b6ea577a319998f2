package io.ztunnel.metrics;

import java.io.IOException;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * The xDS client's families (all unstable upstream): {@code istio_xds_connection_terminations_total
 * {reason}}, {@code istio_xds_message_total{url}} and {@code istio_xds_message_bytes_total{url}}.
 *
 * <p>Thread-safe; meant to be called from the control event loop that runs the ADS stream.
 * Owned by {@link ZtunnelMetrics}.
 */
public final class XdsMetrics {
    static final String TERMINATIONS = "istio_xds_connection_terminations";
    static final String MESSAGES = "istio_xds_message";
    static final String MESSAGE_BYTES = "istio_xds_message_bytes";

    static final List<String> FAMILY_NAMES = List.of(TERMINATIONS, MESSAGES, MESSAGE_BYTES);

    private final Map<XdsTerminationReason, LongAdder> terminations = new EnumMap<>(XdsTerminationReason.class);
    private final ConcurrentHashMap<String, PerType> byTypeUrl = new ConcurrentHashMap<>();

    XdsMetrics() {
        for (XdsTerminationReason r : XdsTerminationReason.values()) {
            terminations.put(r, new LongAdder());
        }
    }

    /** The ADS stream ended for {@code reason}. */
    public void terminated(XdsTerminationReason reason) {
        Objects.requireNonNull(reason, "reason");
        LongAdder counter = terminations.get(reason);
        if (counter == null) {
            throw new IllegalStateException("no counter for " + reason); // every reason has one from the start
        }
        counter.increment();
    }

    /**
     * A response of resource type {@code typeUrl} (e.g.
     * {@code type.googleapis.com/istio.workload.Address}) arrived, {@code bytes} long on the wire.
     */
    public void messageReceived(String typeUrl, long bytes) {
        Objects.requireNonNull(typeUrl, "typeUrl");
        if (bytes < 0) {
            throw new IllegalArgumentException("bytes: " + bytes + " (expected: >= 0)");
        }
        PerType t = byTypeUrl.computeIfAbsent(typeUrl, u -> new PerType());
        t.messages.increment();
        t.bytes.add(bytes);
    }

    void writeTo(ExpositionWriter w) throws IOException {
        boolean started = false;
        // In declaration order, as the EnumMap iterates.
        for (Map.Entry<XdsTerminationReason, LongAdder> e : terminations.entrySet()) {
            XdsTerminationReason r = e.getKey();
            long v = e.getValue().sum();
            if (v == 0) {
                continue; // upstream creates a reason's series on first use only
            }
            if (!started) {
                w.family(
                        TERMINATIONS,
                        ExpositionWriter.Type.COUNTER,
                        "Total number of xDS stream terminations, by reason (unstable).");
                started = true;
            }
            w.sample(TERMINATIONS, ExpositionWriter.Type.COUNTER, "reason", r.labelValue(), v);
        }
        if (byTypeUrl.isEmpty()) {
            return;
        }
        SortedMap<String, PerType> types = new TreeMap<>(byTypeUrl);
        w.family(
                MESSAGES,
                ExpositionWriter.Type.COUNTER,
                "Total number of xDS messages received, by type URL (unstable).");
        for (Map.Entry<String, PerType> t : types.entrySet()) {
            w.sample(
                    MESSAGES,
                    ExpositionWriter.Type.COUNTER,
                    "url",
                    t.getKey(),
                    t.getValue().messages.sum());
        }
        w.family(
                MESSAGE_BYTES,
                ExpositionWriter.Type.COUNTER,
                "Total bytes of xDS messages received, by type URL (unstable).");
        for (Map.Entry<String, PerType> t : types.entrySet()) {
            w.sample(
                    MESSAGE_BYTES,
                    ExpositionWriter.Type.COUNTER,
                    "url",
                    t.getKey(),
                    t.getValue().bytes.sum());
        }
    }

    private static final class PerType {
        final LongAdder messages = new LongAdder();
        final LongAdder bytes = new LongAdder();
    }
}
