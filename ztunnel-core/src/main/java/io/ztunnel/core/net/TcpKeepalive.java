package io.ztunnel.core.net;

import java.time.Duration;
import java.util.Objects;

/**
 * TCP keepalive and user timeout of the data plane's sockets, as upstream sets them ({@code KEEPALIVE_ENABLED},
 * {@code KEEPALIVE_TIME}, {@code KEEPALIVE_INTERVAL}, {@code KEEPALIVE_RETRIES}, {@code USER_TIMEOUT_ENABLED}). The
 * two halves are independent: keepalive may be off while the user timeout is on, and the other way round.
 *
 * @param enabled {@code SO_KEEPALIVE} with the three timings below
 * @param time idle time before the first probe ({@code TCP_KEEPIDLE}, whole seconds)
 * @param interval time between probes ({@code TCP_KEEPINTVL}, whole seconds)
 * @param retries unanswered probes before the connection is dropped ({@code TCP_KEEPCNT})
 * @param userTimeoutEnabled {@code TCP_USER_TIMEOUT} of {@link #userTimeout()}
 */
public record TcpKeepalive(boolean enabled, Duration time, Duration interval, int retries, boolean userTimeoutEnabled) {

    /** Upstream's defaults: 180 s idle, 180 s between probes, 9 probes; no user timeout. */
    public static final TcpKeepalive DEFAULT =
            new TcpKeepalive(true, Duration.ofSeconds(180), Duration.ofSeconds(180), 9, false);

    public TcpKeepalive {
        Objects.requireNonNull(time, "time");
        Objects.requireNonNull(interval, "interval");
        if (time.toSeconds() < 1 || interval.toSeconds() < 1 || retries < 1) {
            throw new IllegalArgumentException(
                    "keepalive time and interval must be at least 1s and retries at least 1: " + time + ", " + interval
                            + ", " + retries);
        }
    }

    /** The {@code TCP_USER_TIMEOUT} value, as upstream computes it: keepalive time plus retries times the interval. */
    public Duration userTimeout() {
        return time.plus(interval.multipliedBy(retries));
    }
}
