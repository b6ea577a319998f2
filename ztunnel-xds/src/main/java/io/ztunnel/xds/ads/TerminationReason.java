package io.ztunnel.xds.ads;

/**
 * Why an ADS stream ended; the {@code reason} label of {@code
 * istio_xds_connection_terminations_total}.
 */
public enum TerminationReason {
    /** The stream could not be established (connect, TLS or auth failure before any response). */
    CONNECTION_ERROR("ConnectionError"),
    /** The stream failed with an unexpected gRPC status. */
    ERROR("Error"),
    /** A routine termination (e.g. istiod's max connection age); reconnects at once. */
    RECONNECT("Reconnect"),
    /** The server ended the stream cleanly. */
    COMPLETE("Complete");

    private final String label;

    TerminationReason(String label) {
        this.label = label;
    }

    /** The metric label value, as upstream spells it. */
    public String label() {
        return label;
    }
}
