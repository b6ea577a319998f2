package io.ztunnel.metrics;

import java.util.HashSet;
import java.util.Set;

/**
 * One distinct combination of workload keys that connections were opened with (typically the
 * source and destination workload uids of a connection), interned by {@link TrafficMetrics}.
 *
 * <p>A series stays in the exposition while at least one of the workload sets that contributed to
 * it is alive. A set dies when any one of its workloads is removed from the mesh: no connection
 * with exactly those endpoints can happen again.
 *
 * <p>Threading: {@code keys} is immutable. {@code dead} and {@code series} are guarded by this
 * object's monitor. Lock order: a {@code WorkloadSet} monitor may be held while taking a
 * {@link Series} monitor, never the reverse.
 */
final class WorkloadSet {
    final Set<String> keys;

    /** Guarded by {@code this}. Once true, never false again. */
    boolean dead;

    /** The series this set has contributed to and still keeps alive. Guarded by {@code this}. */
    final Set<Series> series = new HashSet<>(4);

    WorkloadSet(Set<String> keys) {
        this.keys = keys;
    }

    @Override
    public String toString() {
        return "WorkloadSet" + keys;
    }
}
