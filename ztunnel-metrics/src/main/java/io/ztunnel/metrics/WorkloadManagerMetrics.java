package io.ztunnel.metrics;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * The in-pod workload manager's families. Upstream registers them under the prefix
 * {@code workload_manager_} (not {@code istio_}, whatever its README says):
 * {@code workload_manager_active_proxy_count}, {@code workload_manager_pending_proxy_count}
 * (gauges), {@code workload_manager_proxies_started_total} and
 * {@code workload_manager_proxies_stopped_total} (counters).
 *
 * <p>Thread-safe; the ZDS handling code calls it from the control event loop. Owned by
 * {@link ZtunnelMetrics}.
 */
public final class WorkloadManagerMetrics {
    static final String ACTIVE = "workload_manager_active_proxy_count";
    static final String PENDING = "workload_manager_pending_proxy_count";
    static final String STARTED = "workload_manager_proxies_started";
    static final String STOPPED = "workload_manager_proxies_stopped";

    static final List<String> FAMILY_NAMES = List.of(ACTIVE, PENDING, STARTED, STOPPED);

    private final AtomicLong active = new AtomicLong();
    private final AtomicLong pending = new AtomicLong();
    private final LongAdder started = new LongAdder();
    private final LongAdder stopped = new LongAdder();

    WorkloadManagerMetrics() {}

    /** Sets the number of pod proxies currently running. */
    public void setActive(long count) {
        active.set(requireNonNegative(count));
    }

    /** Sets the number of pod proxies that failed to start and are being retried. */
    public void setPending(long count) {
        pending.set(requireNonNegative(count));
    }

    /** A pod proxy started. */
    public void proxyStarted() {
        started.increment();
    }

    /** A pod proxy stopped. */
    public void proxyStopped() {
        stopped.increment();
    }

    private static long requireNonNegative(long count) {
        if (count < 0) {
            throw new IllegalArgumentException("count: " + count + " (expected: >= 0)");
        }
        return count;
    }

    void writeTo(ExpositionWriter w) throws IOException {
        w.family(ACTIVE, ExpositionWriter.Type.GAUGE, "Number of pod proxies currently running.");
        w.sample(ACTIVE, ExpositionWriter.Type.GAUGE, active.get());
        w.family(
                PENDING,
                ExpositionWriter.Type.GAUGE,
                "Number of pod proxies waiting to be started again after a failure.");
        w.sample(PENDING, ExpositionWriter.Type.GAUGE, pending.get());
        w.family(STARTED, ExpositionWriter.Type.COUNTER, "Total number of pod proxies started.");
        w.sample(STARTED, ExpositionWriter.Type.COUNTER, started.sum());
        w.family(STOPPED, ExpositionWriter.Type.COUNTER, "Total number of pod proxies stopped.");
        w.sample(STOPPED, ExpositionWriter.Type.COUNTER, stopped.sum());
    }
}
