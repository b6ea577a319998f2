package io.ztunnel.metrics;

/**
 * How a connection ended: the {@code response_flags} label.
 *
 * <p>Every value but {@link #NONE} is a failure and also counts in
 * {@code istio_tcp_connections_failed_total}. Immutable; safe on any thread.
 */
public enum ResponseFlags {
    /** Ended normally (rendered {@code -}). */
    NONE("-"),
    /** Denied by authorization policy, at connect time or later (policy change). */
    DENY("DENY"),
    /** The upstream connection could not be established. */
    CONNECT("CONNECT"),
    /** The TLS handshake failed. */
    TLS_FAILURE("TLS_FAILURE"),
    /** The HTTP/2 handshake failed. */
    H2_HANDSHAKE_FAILURE("H2_HANDSHAKE_FAILURE"),
    /** Blocked by a network policy. */
    NETWORK_POLICY("NETWORK_POLICY"),
    /** The peer's identity was not the expected one. */
    IDENTITY_ERROR("IDENTITY_ERROR"),
    /** The peer's certificate was revoked. */
    CERT_REVOKED("CERT_REVOKED");

    private final String labelValue;

    ResponseFlags(String labelValue) {
        this.labelValue = labelValue;
    }

    /** The exact value rendered in the {@code response_flags} label. */
    public String labelValue() {
        return labelValue;
    }

    /** Whether a connection ending with this flag counts as failed. */
    public boolean isFailure() {
        return this != NONE;
    }
}
