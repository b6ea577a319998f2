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

    /**
     * Double HBONE: the destination (or its waypoint) is on another network, reachable only through that network's
     * gateway. An outer CONNECT goes to the gateway over the pool; inside that stream, a new mutual-TLS HTTP/2
     * connection carries the inner CONNECT to the destination's ztunnel, both with the same {@code authority}.
     *
     * @param gatewayAddress where the gateway's HBONE listener is ({@code ip:hbone_mtls_port}, port-mapped)
     * @param gatewayIdentities the identities the gateway may present (its service's SANs, then its workload's)
     * @param gateway the gateway workload the outer tunnel terminates at
     * @param innerIdentities the identities the far end may present: only the remote service's SANs (never empty)
     * @param authority {@code <service host name>:<service port>}, for both CONNECTs
     * @param workload the remote workload picked (the destination, or the remote waypoint)
     * @param service the destination service (double HBONE is always service-addressed)
     * @param viaWaypoint whether {@code workload} is a waypoint
     */
    record DoubleHbone(
            InetSocketAddress gatewayAddress,
            List<SpiffeId> gatewayIdentities,
            Workload gateway,
            List<SpiffeId> innerIdentities,
            String authority,
            Workload workload,
            Service service,
            boolean viaWaypoint)
            implements Route {
        public DoubleHbone {
            gatewayIdentities = List.copyOf(gatewayIdentities);
            innerIdentities = List.copyOf(innerIdentities);
            if (innerIdentities.isEmpty()) {
                throw new IllegalArgumentException("double HBONE needs the remote service's identities");
            }
        }
    }
}
