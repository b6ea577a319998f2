package io.ztunnel.core.routing;

import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import java.net.InetSocketAddress;
import java.util.List;
import org.jspecify.annotations.Nullable;

/** Where an outbound connection goes, as decided by {@link OutboundRouter}. Immutable. */
public sealed interface Route {

    /** Do not connect; close the client connection. */
    record Refuse(String reason) implements Route {}

    /**
     * Plain TCP to the original destination, untouched (an unknown destination, or a PASSTHROUGH service).
     *
     * @param service the PASSTHROUGH service, or null
     */
    record Passthrough(
            InetSocketAddress destination, @Nullable Service service) implements Route {}

    /**
     * Plain TCP to a workload that does not speak HBONE, after load balancing and port mapping.
     *
     * @param hostname when the workload has no IP but a host name to resolve; then {@code destination} holds only the
     *     port (unresolved)
     */
    record Direct(
            InetSocketAddress destination,
            @Nullable String hostname,
            Workload workload,
            @Nullable Service service) implements Route {}

    /**
     * HBONE: a CONNECT to {@code hboneAddress} ({@code ip:15008}) with {@code authority}.
     *
     * @param expectedIdentities the server identities accepted (service SANs, then the workload's identity)
     * @param workload the workload the tunnel terminates at (the destination, or the waypoint)
     * @param destination the final destination workload when known (null when going through a waypoint to a service)
     * @param service the destination service, or null when workload-addressed
     * @param viaWaypoint whether {@code workload} is a waypoint
     */
    record Hbone(
            InetSocketAddress hboneAddress,
            String authority,
            List<SpiffeId> expectedIdentities,
            Workload workload,
            @Nullable Workload destination,
            @Nullable Service service,
            boolean viaWaypoint)
            implements Route {}
}
