package io.ztunnel.core.routing;

import java.util.Set;

/**
 * Settings routing depends on.
 *
 * @param network this node's network ({@code NETWORK}), "" for the default network
 * @param illegalPorts ports clients may not target (15001, 15006, 15008, and 15080 when SOCKS5 is on)
 * @param preferredServiceNamespace {@code PREFERED_SERVICE_NAMESPACE}, tie-breaker between services sharing a VIP
 * @param hbonePort the port HBONE peers listen on (15008)
 */
public record RoutingConfig(
        String network, Set<Integer> illegalPorts, String preferredServiceNamespace, int hbonePort) {

    public RoutingConfig {
        network = network == null ? "" : network;
        illegalPorts = Set.copyOf(illegalPorts);
        preferredServiceNamespace = preferredServiceNamespace == null ? "" : preferredServiceNamespace;
    }

    public static RoutingConfig defaults(boolean socks5) {
        return new RoutingConfig(
                "", socks5 ? Set.of(15001, 15006, 15008, 15080) : Set.of(15001, 15006, 15008), "", 15008);
    }
}
