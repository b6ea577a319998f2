package io.ztunnel.xds.ads;

import java.util.Objects;

/**
 * A resource that was not applied, and why. Reported to istiod in the NACK's {@code
 * error_detail.message} as {@code "<name>: <reason>"}, joined with {@code "; "}.
 *
 * @param name the xDS resource name
 * @param reason a short human-readable explanation (e.g. {@code "unknown tunnel protocol 7"})
 */
public record ResourceError(String name, String reason) {
    public ResourceError {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(reason, "reason");
    }

    @Override
    public String toString() {
        return name + ": " + reason;
    }
}
