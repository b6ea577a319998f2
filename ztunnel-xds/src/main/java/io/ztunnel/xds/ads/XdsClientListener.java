package io.ztunnel.xds.ads;

/**
 * Observes the ADS client for metrics and health reporting, without this module depending on
 * a metrics library. Upstream's metrics map onto it as {@code istio_xds_connection_terminations_total{reason}},
 * {@code istio_xds_message_total{url}} and {@code istio_xds_message_bytes_total{url}}.
 *
 * <p>Threading: called on the client's thread; implementations must be quick and must not throw
 * (exceptions are logged and ignored). All methods default to doing nothing.
 */
public interface XdsClientListener {
    /** A listener that ignores everything. */
    XdsClientListener NOOP = new XdsClientListener() {};

    /** An ADS stream ended (the client will reconnect unless it is being closed). */
    default void onConnectionTerminated(TerminationReason reason) {}

    /** A response arrived for {@code typeUrl}; {@code bytes} is its encoded protobuf size. */
    default void onMessage(String typeUrl, long bytes) {}

    /** A response was ACKed ({@code rejected} empty) or NACKed. */
    default void onResponseProcessed(String typeUrl, int upserts, int removals, int rejected) {}
}
