package io.ztunnel.metrics;

/**
 * Why an xDS stream ended: the {@code reason} label of
 * {@code istio_xds_connection_terminations_total}.
 *
 * <p>Immutable; safe on any thread.
 */
public enum XdsTerminationReason {
    /** The transport failed (connect error, reset, TLS failure). */
    CONNECTION_ERROR("ConnectionError"),
    /** The server ended the stream with an error status. */
    ERROR("Error"),
    /** The client ended the stream on purpose to reconnect (for example, a new certificate). */
    RECONNECT("Reconnect"),
    /** The stream ended cleanly. */
    COMPLETE("Complete");

    private final String labelValue;

    XdsTerminationReason(String labelValue) {
        this.labelValue = labelValue;
    }

    /** The exact value rendered in the {@code reason} label. */
    public String labelValue() {
        return labelValue;
    }
}
