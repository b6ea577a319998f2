package io.ztunnel.metrics;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.ToLongFunction;

/**
 * The DNS proxy's families, registered only when the proxy is on, as upstream does:
 *
 * <ul>
 *   <li>{@code istio_dns_requests_total}: every lookup (answered locally, forwarded, or refused for an unknown client);
 *   <li>{@code istio_dns_upstream_requests_total}: lookups forwarded to the upstream resolvers;
 *   <li>{@code istio_dns_upstream_failures_total}: forwarded lookups that failed, an upstream "no records" answer
 *       (NXDOMAIN or NODATA) included;
 *   <li>{@code istio_dns_upstream_request_duration_seconds}: histogram of forwarded lookups, buckets 0.0005, 0.001,
 *       0.01, 0.1, 1, 5.
 * </ul>
 *
 * All four carry {@code request_query_type}, {@code request_protocol}, {@code source_canonical_service},
 * {@code source_canonical_revision}, in that order. Series are created on first use and kept (upstream never removes
 * them); their number is bounded by the known query types (unknown ones share {@code unknown}), two protocols and the
 * node's canonical services.
 *
 * <p>One family is ours, not upstream's: {@code ztunnel_dns_dropped_requests_total{reason}} counts messages the proxy
 * could not answer at all (no DNS header, an oversized TCP frame, a pod over its limit of pending queries or TCP
 * connections), so that no dropped query goes uncounted.
 *
 * <p>Thread-safe; recorded from data-plane event loops, rendered by the scrape. Owned by {@link ZtunnelMetrics}.
 */
public final class DnsMetrics {
    static final String REQUESTS = "istio_dns_requests";
    static final String UPSTREAM_REQUESTS = "istio_dns_upstream_requests";
    static final String UPSTREAM_FAILURES = "istio_dns_upstream_failures";
    static final String UPSTREAM_DURATION = "istio_dns_upstream_request_duration_seconds";
    static final String DROPPED = "ztunnel_dns_dropped_requests";

    static final List<String> FAMILY_NAMES =
            List.of(REQUESTS, UPSTREAM_REQUESTS, UPSTREAM_FAILURES, UPSTREAM_DURATION, DROPPED);

    /** Upstream's bucket bounds, in seconds. */
    static final double[] BUCKETS = {0.0005, 0.001, 0.01, 0.1, 1, 5};

    /** Why a message got no answer at all. */
    public enum DropReason {
        /** Shorter than a DNS header: there is no id to answer with. */
        MALFORMED("malformed"),
        /** A TCP length prefix above the largest query the proxy accepts; the connection is closed. */
        OVERSIZED("oversized"),
        /** The pod already has the maximum number of queries waiting, or its socket cannot take more replies. */
        OVERLOAD("overload"),
        /** The pod already has the maximum number of open TCP connections; the new one is closed. */
        TOO_MANY_CONNECTIONS("too_many_connections");

        final String label;

        DropReason(String label) {
            this.label = label;
        }
    }

    /**
     * The labels of one series. Empty values are rendered {@code unknown}.
     *
     * @param queryType the query type in lower case ({@code a}, {@code aaaa}, {@code srv}, ...)
     * @param protocol {@code udp} or {@code tcp}
     */
    public record Labels(String queryType, String protocol, String canonicalService, String canonicalRevision) {
        public Labels {
            queryType = orUnknown(queryType);
            protocol = orUnknown(protocol);
            canonicalService = orUnknown(canonicalService);
            canonicalRevision = orUnknown(canonicalRevision);
        }

        private static String orUnknown(String s) {
            return s == null || s.isEmpty() ? TrafficLabels.UNKNOWN : s;
        }

        String render() {
            StringBuilder sb = new StringBuilder(128).append("request_query_type=\"");
            ExpositionWriter.escapeLabelValue(sb, queryType);
            sb.append("\",request_protocol=\"");
            ExpositionWriter.escapeLabelValue(sb, protocol);
            sb.append("\",source_canonical_service=\"");
            ExpositionWriter.escapeLabelValue(sb, canonicalService);
            sb.append("\",source_canonical_revision=\"");
            ExpositionWriter.escapeLabelValue(sb, canonicalRevision);
            return sb.append('"').toString();
        }
    }

    private final ConcurrentHashMap<Labels, Series> series = new ConcurrentHashMap<>();
    /** One counter per drop reason, indexed by the reason's ordinal. */
    private final LongAdder[] dropped = new LongAdder[DropReason.values().length];

    DnsMetrics() {
        for (DropReason r : DropReason.values()) {
            dropped[r.ordinal()] = new LongAdder();
        }
    }

    /** A lookup was handled (locally, forwarded, or refused for an unknown client). */
    public void request(Labels labels) {
        series(labels).requests.increment();
    }

    /** A lookup was forwarded upstream. */
    public void upstreamRequest(Labels labels) {
        series(labels).upstreamRequests.increment();
    }

    /** A forwarded lookup failed (no records included). */
    public void upstreamFailure(Labels labels) {
        series(labels).upstreamFailures.increment();
    }

    /** A forwarded lookup took {@code nanos}. */
    public void upstreamDuration(Labels labels, long nanos) {
        Series s = series(labels);
        double seconds = Math.max(0, nanos) / 1e9;
        int bucket = BUCKETS.length;
        for (int i = 0; i < BUCKETS.length; i++) {
            if (seconds <= BUCKETS[i]) {
                bucket = i;
                break;
            }
        }
        s.buckets[bucket].increment();
        s.durationSum.add(seconds);
    }

    /** A message got no answer for {@code reason}. */
    public void dropped(DropReason reason) {
        dropped[Objects.requireNonNull(reason, "reason").ordinal()].increment();
    }

    /** The current count of one drop reason (for tests and logs). */
    public long droppedCount(DropReason reason) {
        return dropped[reason.ordinal()].sum();
    }

    private Series series(Labels labels) {
        Series s = series.get(Objects.requireNonNull(labels, "labels"));
        return s != null ? s : series.computeIfAbsent(labels, Series::new);
    }

    void writeTo(ExpositionWriter w) throws IOException {
        List<Series> all = new ArrayList<>(series.values());
        all.sort((a, b) -> a.rendered.compareTo(b.rendered));
        counter(w, all, REQUESTS, "Total number of DNS requests.", s -> s.requests.sum());
        counter(
                w,
                all,
                UPSTREAM_REQUESTS,
                "Total number of DNS requests forwarded to the upstream resolvers.",
                s -> s.upstreamRequests.sum());
        counter(
                w,
                all,
                UPSTREAM_FAILURES,
                "Total number of DNS requests that failed upstream (no records included).",
                s -> s.upstreamFailures.sum());
        boolean started = false;
        for (Series s : all) {
            long[] cumulative = new long[BUCKETS.length + 1];
            long running = 0;
            for (int i = 0; i <= BUCKETS.length; i++) {
                running += s.buckets[i].sum();
                cumulative[i] = running;
            }
            if (running == 0) {
                continue;
            }
            if (!started) {
                w.family(
                        UPSTREAM_DURATION,
                        ExpositionWriter.Type.HISTOGRAM,
                        "Time, in seconds, the upstream resolvers took to answer forwarded DNS requests.");
                started = true;
            }
            w.histogram(UPSTREAM_DURATION, s.rendered, BUCKETS, cumulative, s.durationSum.sum());
        }
        boolean droppedStarted = false;
        for (DropReason r : DropReason.values()) {
            long v = dropped[r.ordinal()].sum();
            if (v == 0) {
                continue;
            }
            if (!droppedStarted) {
                w.family(
                        DROPPED,
                        ExpositionWriter.Type.COUNTER,
                        "Total number of DNS messages dropped without an answer, by reason (ztunnel-java).");
                droppedStarted = true;
            }
            w.sample(DROPPED, ExpositionWriter.Type.COUNTER, "reason", r.label, v);
        }
    }

    private static void counter(
            ExpositionWriter w, List<Series> all, String name, String help, ToLongFunction<Series> f)
            throws IOException {
        boolean started = false;
        for (Series s : all) {
            long v = f.applyAsLong(s);
            if (v == 0) {
                continue; // upstream creates a series in a family on its first increment
            }
            if (!started) {
                w.family(name, ExpositionWriter.Type.COUNTER, help);
                started = true;
            }
            w.sample(name, ExpositionWriter.Type.COUNTER, s.renderedBraces, v);
        }
    }

    private static final class Series {
        final String rendered;
        final byte[] renderedBraces;
        final LongAdder requests = new LongAdder();
        final LongAdder upstreamRequests = new LongAdder();
        final LongAdder upstreamFailures = new LongAdder();
        final LongAdder[] buckets = new LongAdder[BUCKETS.length + 1];
        final DoubleAdder durationSum = new DoubleAdder();

        Series(Labels labels) {
            this.rendered = labels.render();
            this.renderedBraces = ("{" + rendered + "}").getBytes(StandardCharsets.UTF_8);
            for (int i = 0; i < buckets.length; i++) {
                buckets[i] = new LongAdder();
            }
        }
    }
}
