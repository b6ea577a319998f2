package io.ztunnel.core.util;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * How long to wait before the n-th retry: exponential (an initial delay doubling up to a cap, with optional jitter) or
 * constant. The one retry-delay policy of core: certificate requests use 500 ms doubling to 150 s with ±20 % jitter,
 * pending pod proxies a constant 5 s, as Istio's ztunnel does. Immutable and thread-safe.
 *
 * <p>The adapter modules keep their own small backoff classes (the ZDS client, the node agent, the xDS client): they
 * may not depend on core or on each other.
 */
public final class Backoff {
    private final Duration initial;
    private final Duration max;
    private final double jitter;

    private Backoff(Duration initial, Duration max, double jitter) {
        if (initial.isNegative() || initial.isZero() || max.compareTo(initial) < 0) {
            throw new IllegalArgumentException("backoff: need 0 < initial <= max, got " + initial + " and " + max);
        }
        if (jitter < 0 || jitter >= 1) {
            throw new IllegalArgumentException("backoff: jitter " + jitter + " (expected: 0 <= jitter < 1)");
        }
        this.initial = initial;
        this.max = max;
        this.jitter = jitter;
    }

    /** {@code initial} × 2^(n-1), then ± {@code jitter} (a fraction, e.g. 0.2), capped at {@code max}. */
    public static Backoff exponential(Duration initial, Duration max, double jitter) {
        return new Backoff(initial, max, jitter);
    }

    /** The same delay before every retry. */
    public static Backoff constant(Duration delay) {
        return new Backoff(delay, delay, 0);
    }

    /** The delay before retry number {@code attempt} (1 for the first retry). */
    public Duration delay(int attempt) {
        if (attempt < 1) {
            throw new IllegalArgumentException("attempt " + attempt + " (expected: >= 1)");
        }
        double base = initial.toNanos() * Math.pow(2, Math.min(attempt - 1, 40));
        double jittered = jitter == 0
                ? base
                : base * (1 - jitter + 2 * jitter * ThreadLocalRandom.current().nextDouble());
        return Duration.ofNanos((long) Math.min(jittered, max.toNanos()));
    }
}
