package io.ztunnel.cni.zds;

import java.time.Duration;

/**
 * Exponential reconnect delay: starts at {@code initial}, doubles after each use, never exceeds
 * {@code max}; {@link #reset()} after a successful connection. Not thread-safe (one per loop).
 */
final class Backoff {
    /** ztunnel's ZDS reconnect schedule: 10 ms doubling to 15 s. */
    static final Duration DEFAULT_INITIAL = Duration.ofMillis(10);

    static final Duration DEFAULT_MAX = Duration.ofSeconds(15);

    private final Duration initial;
    private final Duration max;
    private Duration next;

    Backoff(Duration initial, Duration max) {
        if (initial.isNegative() || initial.isZero() || max.compareTo(initial) < 0) {
            throw new IllegalArgumentException("need 0 < initial <= max, got " + initial + ", " + max);
        }
        this.initial = initial;
        this.max = max;
        this.next = initial;
    }

    /** The delay to wait now; the one after it is twice as long (capped). */
    Duration next() {
        Duration current = next;
        Duration doubled = current.multipliedBy(2);
        next = doubled.compareTo(max) > 0 ? max : doubled;
        return current;
    }

    void reset() {
        next = initial;
    }
}
