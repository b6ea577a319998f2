package io.ztunnel.core.proxy;

/** Which way a proxied connection goes, relative to the local workload. */
public enum Direction {
    OUTBOUND,
    INBOUND;

    public String label() {
        return this == OUTBOUND ? "outbound" : "inbound";
    }
}
