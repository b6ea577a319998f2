package io.ztunnel.xds.ads;

import com.google.protobuf.Message;
import java.util.List;
import java.util.Objects;

/**
 * One decoded resource of a Delta xDS response.
 *
 * @param name the xDS resource name (workload uid, {@code namespace/hostname}, or policy {@code
 *     namespace/name})
 * @param version the server's opaque version of this resource
 * @param resource the decoded message
 * @param aliases other names the server gave the resource (informational)
 * @param <T> the message type ({@code Address} or {@code Authorization})
 */
public record XdsResource<T extends Message>(String name, String version, T resource, List<String> aliases) {
    public XdsResource {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(version, "version");
        Objects.requireNonNull(resource, "resource");
        aliases = List.copyOf(aliases);
    }
}
