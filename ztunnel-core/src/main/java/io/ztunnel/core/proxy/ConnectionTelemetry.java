package io.ztunnel.core.proxy;

import io.ztunnel.metrics.ResponseFlags;

/**
 * Where proxied connections report for metrics. {@link #opened} is called once per connection when its context is
 * complete and returns the connection's own {@link Handle}, which then receives its bytes and its end. Called on the
 * connection's event loop; implementations must be cheap, must not block and must be thread-safe across connections.
 */
@FunctionalInterface
public interface ConnectionTelemetry {

    /** Reports nothing. */
    ConnectionTelemetry NONE = record -> Handle.NONE;

    /** A connection was opened (refused and failed connections included); its handle follows it to the end. */
    Handle opened(ConnectionRecord record);

    /**
     * A proxy listener accepted a socket ({@code istio_tcp_sockets_open}): outbound listeners (15001, SOCKS5) report
     * as {@code source}, inbound ones (15006, 15008, ztunnel's own inbound) as {@code destination}; one per accepted
     * TCP connection, not per HBONE stream. Paired with {@link #socketClosed} when the socket closes.
     */
    default void socketOpened(Direction listener) {}

    /** A socket {@link #socketOpened} reported closed. */
    default void socketClosed(Direction listener) {}

    /** One connection's view of the telemetry, owned by its {@link ConnectionRecord}. */
    interface Handle {
        Handle NONE = new Handle() {
            @Override
            public void bytes(long received, long sent) {}

            @Override
            public void closed(ResponseFlags flag) {}
        };

        /** Bytes copied since the last call: client → server ({@code received}) and server → client ({@code sent}). */
        void bytes(long received, long sent);

        /** The connection ended, normally ({@link ResponseFlags#NONE}) or not; called once. */
        void closed(ResponseFlags flag);
    }
}
