package io.ztunnel.metrics;

/**
 * The {@code connection_security_policy} label.
 *
 * <p>Immutable; safe on any thread.
 */
public enum SecurityPolicy {
    /** The connection was carried over HBONE with mutual TLS. */
    MUTUAL_TLS("mutual_tls"),
    /** Plain TCP, or not known. */
    UNKNOWN("unknown");

    private final String labelValue;

    SecurityPolicy(String labelValue) {
        this.labelValue = labelValue;
    }

    /** The exact value rendered in the {@code connection_security_policy} label. */
    public String labelValue() {
        return labelValue;
    }
}
