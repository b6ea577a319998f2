package io.ztunnel.metrics;

/**
 * Which end of a connection reports a traffic sample: the {@code reporter} label.
 *
 * <p>Immutable; safe on any thread.
 */
public enum Reporter {
    /** Outbound: the proxy on the client's node reports. */
    SOURCE("source"),
    /** Inbound: the proxy on the server's node reports. */
    DESTINATION("destination");

    private final String labelValue;

    Reporter(String labelValue) {
        this.labelValue = labelValue;
    }

    /** The exact value rendered in the {@code reporter} label. */
    public String labelValue() {
        return labelValue;
    }
}
