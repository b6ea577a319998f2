package io.ztunnel.metrics;

import org.jspecify.annotations.Nullable;

/**
 * The state behind one label set of the {@code istio_tcp_*} families: a {@link TrafficLabels}
 * plus the {@link ResponseFlags} outcome. It holds the opened, closed and failed counts, the bytes
 * of connections already closed, and the list of connections still open (whose own byte counters
 * are summed at scrape time, so a long transfer shows progress without any shared write on the
 * data path).
 *
 * <p>Lifecycle: a series is <em>retired</em> when it is not pinned and every workload set that
 * contributed to it is dead; a retired series with no open connection is <em>removed</em> from
 * the table and never used again (a later connection with the same labels creates a fresh one).
 *
 * <p>Threading: all mutable fields are guarded by this object's monitor; see {@link WorkloadSet}
 * for the lock order. The monitor is taken per connection open/close and per scrape, never on
 * the per-byte path.
 */
final class Series {
    final TrafficLabels labels;
    final ResponseFlags flags;

    /** Open connections holding this series (the byte series of a relaying connection). */
    int refs;

    /** True once taken out of the table; an acquirer seeing it must look the series up again. */
    boolean removed;

    /** A connection without workload keys used this series: it can never be retired. */
    boolean pinned;

    /** How many live {@link WorkloadSet}s keep this series. */
    int liveSets;

    long opened;
    long closed;
    long failed;

    /** Whether relaying connections used this series, so its byte counters are exposed. */
    boolean carriesBytes;

    long receivedOfClosed;
    long sentOfClosed;

    /** Head of the intrusive list of open connections. */
    @Nullable
    TrafficSeries head;

    private byte @Nullable [] rendered;

    Series(TrafficLabels labels, ResponseFlags flags) {
        this.labels = labels;
        this.flags = flags;
    }

    /** Caller holds the monitor. */
    boolean retired() {
        return !pinned && liveSets == 0;
    }

    /** Caller holds the monitor. */
    void attach(TrafficSeries conn) {
        conn.next = head;
        if (head != null) {
            head.prev = conn;
        }
        head = conn;
    }

    /** Moves the connection's bytes into this series' totals and unlinks it. Caller holds the monitor. */
    void detach(TrafficSeries conn) {
        receivedOfClosed += conn.receivedBytes();
        sentOfClosed += conn.sentBytes();
        TrafficSeries p = conn.prev;
        TrafficSeries n = conn.next;
        if (p == null) {
            head = n;
        } else {
            p.next = n;
        }
        if (n != null) {
            n.prev = p;
        }
        conn.prev = null;
        conn.next = null;
    }

    /** A consistent copy of the counters, or {@code null} once removed. */
    synchronized @Nullable Snapshot snapshot() {
        if (removed) {
            return null;
        }
        long received = receivedOfClosed;
        long sent = sentOfClosed;
        for (TrafficSeries c = head; c != null; c = c.next) {
            received += c.receivedBytes();
            sent += c.sentBytes();
        }
        if (rendered == null) {
            rendered = labels.renderLabelSet(flags);
        }
        return new Snapshot(rendered, opened, closed, failed, carriesBytes, received, sent);
    }

    /** What one scrape saw of one series. */
    record Snapshot(
            byte[] labels, long opened, long closed, long failed, boolean carriesBytes, long received, long sent) {}
}
