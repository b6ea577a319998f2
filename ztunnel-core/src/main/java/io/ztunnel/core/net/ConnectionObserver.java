package io.ztunnel.core.net;

import org.jspecify.annotations.Nullable;

/**
 * Hooks a proxied connection reports to (metrics, access log, connection tracking). Called on the connection's event
 * loop; implementations must be cheap and must not block.
 */
public interface ConnectionObserver {

    ConnectionObserver NOOP = new ConnectionObserver() {};

    /** The relay is running; {@code abort} closes both sides (used when a policy change denies the connection). */
    default void established(Runnable abort) {}

    /** Bytes copied since the last call: client → server ({@code received}) and server → client ({@code sent}). */
    default void bytes(long received, long sent) {}

    /** The relay ended; {@code error} is {@code null} for a normal end (EOF, or a reset treated as EOF). */
    default void closed(@Nullable Throwable error) {}
}
