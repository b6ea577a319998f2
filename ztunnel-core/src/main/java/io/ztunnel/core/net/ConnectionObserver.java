package io.ztunnel.core.net;

import io.ztunnel.core.util.LogSpan;
import org.jspecify.annotations.Nullable;

/**
 * Hooks a proxied connection reports to (metrics, access log, connection tracking). Called on the connection's event
 * loop; implementations must be cheap and must not block.
 */
public interface ConnectionObserver {

    ConnectionObserver NOOP = new ConnectionObserver() {};

    /** The span the relay's log lines about this connection carry ({@link LogSpan}), or null. */
    default @Nullable LogSpan logSpan() {
        return null;
    }

    /** The relay is running; {@code abort} closes both sides (used when a policy change denies the connection). */
    default void established(Runnable abort) {}

    /** Bytes copied since the last call: client → server ({@code received}) and server → client ({@code sent}). */
    default void bytes(long received, long sent) {}

    /** The relay ended; {@code error} is {@code null} for a normal end (EOF, or a reset treated as EOF). */
    default void closed(@Nullable Throwable error) {}
}
