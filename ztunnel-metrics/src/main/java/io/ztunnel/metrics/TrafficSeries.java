package io.ztunnel.metrics;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * One open connection's handle onto its {@code istio_tcp_*} series, returned by
 * {@link TrafficMetrics#open}. The relay calls {@link #addReceived} and {@link #addSent} as bytes
 * move, and {@link #close} exactly once when the connection ends.
 *
 * <p>The byte methods are the hot path. Each is one uncontended atomic add on a field of this
 * object (no allocation, no lock, no write shared with other connections); a scrape sums the
 * open connections of a series, so progress of a long transfer is visible while it runs. They may
 * be called from any thread, though a connection normally lives on one event loop.
 *
 * <p>Bytes added after {@link #close} are not counted. The handle is owned by the connection that
 * opened it; dropping it without {@code close} leaks the series' open-connection reference (the
 * series then never leaves the exposition), so close it on every path, including errors.
 */
public final class TrafficSeries {
    private static final VarHandle RECEIVED;
    private static final VarHandle SENT;
    private static final VarHandle CLOSED;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            RECEIVED = l.findVarHandle(TrafficSeries.class, "received", long.class);
            SENT = l.findVarHandle(TrafficSeries.class, "sent", long.class);
            CLOSED = l.findVarHandle(TrafficSeries.class, "closed", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final TrafficMetrics owner;
    final Series series;
    final @Nullable WorkloadSet workloads;

    @SuppressWarnings("unused") // accessed through RECEIVED
    private long received;

    @SuppressWarnings("unused") // accessed through SENT
    private long sent;

    @SuppressWarnings("unused") // accessed through CLOSED
    private boolean closed;

    /** Intrusive list links, guarded by {@code series}' monitor. */
    @Nullable
    TrafficSeries prev;

    @Nullable
    TrafficSeries next;

    TrafficSeries(TrafficMetrics owner, Series series, @Nullable WorkloadSet workloads) {
        this.owner = owner;
        this.series = series;
        this.workloads = workloads;
    }

    /** Counts {@code n} bytes sent by the client towards the server ({@code istio_tcp_received_bytes_total}). */
    public void addReceived(long n) {
        if (n > 0) {
            // The cast fixes the call site's type to (TrafficSeries, long)long: no boxing, no adaptation.
            long _ = (long) RECEIVED.getAndAdd(this, n);
        } else if (n < 0) {
            throw new IllegalArgumentException("n: " + n + " (expected: >= 0)");
        }
    }

    /** Counts {@code n} bytes sent by the server towards the client ({@code istio_tcp_sent_bytes_total}). */
    public void addSent(long n) {
        if (n > 0) {
            long _ = (long) SENT.getAndAdd(this, n);
        } else if (n < 0) {
            throw new IllegalArgumentException("n: " + n + " (expected: >= 0)");
        }
    }

    /** Client-to-server bytes of this connection so far (for the access log). */
    public long receivedBytes() {
        return (long) RECEIVED.getVolatile(this);
    }

    /** Server-to-client bytes of this connection so far (for the access log). */
    public long sentBytes() {
        return (long) SENT.getVolatile(this);
    }

    /** The labels this connection was opened with. */
    public TrafficLabels labels() {
        return series.labels;
    }

    /**
     * Ends the connection: counts it in {@code istio_tcp_connections_closed_total} of the series
     * whose {@code response_flags} is {@code flags} and, if {@code flags} is a failure, in
     * {@code istio_tcp_connections_failed_total} too. Its bytes stay in the {@code -} series they
     * were counted in while relaying. Releases the connection's reference on its series.
     *
     * @return {@code false} if the connection was already closed (the call then does nothing)
     */
    public boolean close(ResponseFlags flags) {
        Objects.requireNonNull(flags, "flags");
        if (!CLOSED.compareAndSet(this, false, true)) {
            return false;
        }
        owner.closed(this, flags);
        return true;
    }

    @Override
    public String toString() {
        return "TrafficSeries{received=" + receivedBytes() + ", sent=" + sentBytes() + ", labels=" + series.labels
                + '}';
    }
}
