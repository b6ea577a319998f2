package io.ztunnel.cni.agent;

import java.time.Duration;

/**
 * Per-pod retry delay, as istio-cni's work queue: 5 ms doubling to 5 s. Not thread-safe (the
 * reconcile thread owns each instance).
 */
public final class RetryBackoff {
    static final Duration INITIAL = Duration.ofMillis(5);
    static final Duration MAX = Duration.ofSeconds(5);

    private Duration next = INITIAL;

    /** The delay to wait now; the next one is twice as long, at most {@link #MAX}. */
    public Duration next() {
        Duration current = next;
        Duration doubled = current.multipliedBy(2);
        next = doubled.compareTo(MAX) > 0 ? MAX : doubled;
        return current;
    }

    public void reset() {
        next = INITIAL;
    }
}
