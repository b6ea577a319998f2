package io.ztunnel.core.config;

import java.time.Duration;

/**
 * HTTP/2 and pool parameters of HBONE, with Istio ztunnel's defaults. Immutable.
 *
 * @param streamWindow {@code HTTP2_STREAM_WINDOW_SIZE}, SETTINGS_INITIAL_WINDOW_SIZE (4 MiB)
 * @param connectionWindow {@code HTTP2_CONNECTION_WINDOW_SIZE}, the connection-level receive window (16 MiB)
 * @param frameSize {@code HTTP2_FRAME_SIZE}, SETTINGS_MAX_FRAME_SIZE (1 MiB)
 * @param serverMaxConcurrentStreams advertised by the inbound server (200)
 * @param serverMaxHeaderListSize advertised by the inbound server (64 KiB)
 * @param clientMaxHeaderListSize advertised by the client (16 KiB)
 * @param poolMaxStreamsPerConnection {@code POOL_MAX_STREAMS_PER_CONNECTION} (100)
 * @param poolIdleTimeout {@code POOL_UNUSED_RELEASE_TIMEOUT} (5 min)
 * @param pingInterval how often each end pings (10 s)
 * @param pingTimeout how long without a PING answer before the connection is dropped (20 s)
 * @param connectTimeout TCP connect timeout for dials and upstream connects (10 s)
 */
public record HboneSettings(
        int streamWindow,
        int connectionWindow,
        int frameSize,
        int serverMaxConcurrentStreams,
        int serverMaxHeaderListSize,
        int clientMaxHeaderListSize,
        int poolMaxStreamsPerConnection,
        Duration poolIdleTimeout,
        Duration pingInterval,
        Duration pingTimeout,
        Duration connectTimeout) {

    public static final int MIB = 1024 * 1024;

    public static final HboneSettings DEFAULT = new HboneSettings(
            4 * MIB,
            16 * MIB,
            MIB,
            200,
            64 * 1024,
            16 * 1024,
            100,
            Duration.ofMinutes(5),
            Duration.ofSeconds(10),
            Duration.ofSeconds(20),
            Duration.ofSeconds(10));

    public HboneSettings {
        if (frameSize < 16384 || frameSize > 16777215) {
            throw new IllegalArgumentException("HTTP2_FRAME_SIZE: " + frameSize + " (expected: 16384..16777215)");
        }
        if (streamWindow <= 0 || connectionWindow <= 0) {
            throw new IllegalArgumentException("HTTP/2 windows must be positive");
        }
        if (poolMaxStreamsPerConnection <= 0) {
            throw new IllegalArgumentException(
                    "POOL_MAX_STREAMS_PER_CONNECTION: " + poolMaxStreamsPerConnection + " (expected: > 0)");
        }
    }

    public HboneSettings withPing(Duration interval, Duration timeout) {
        return new HboneSettings(
                streamWindow,
                connectionWindow,
                frameSize,
                serverMaxConcurrentStreams,
                serverMaxHeaderListSize,
                clientMaxHeaderListSize,
                poolMaxStreamsPerConnection,
                poolIdleTimeout,
                interval,
                timeout,
                connectTimeout);
    }

    public HboneSettings withPool(int maxStreams, Duration idleTimeout) {
        return new HboneSettings(
                streamWindow,
                connectionWindow,
                frameSize,
                serverMaxConcurrentStreams,
                serverMaxHeaderListSize,
                clientMaxHeaderListSize,
                maxStreams,
                idleTimeout,
                pingInterval,
                pingTimeout,
                connectTimeout);
    }
}
