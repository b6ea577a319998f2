package io.ztunnel.core.state;

/** A service by namespace and host name; its key is {@code namespace/hostname}, the xDS resource name. */
public record NamespacedHostname(String namespace, String hostname) {
    public String key() {
        return namespace + "/" + hostname;
    }

    @Override
    public String toString() {
        return key();
    }
}
