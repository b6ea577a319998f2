package io.ztunnel.core.state;

/**
 * A waypoint or network gateway: an address (a workload or service VIP) or a service host name, and the port its
 * HBONE listener uses (15008 when the control plane leaves it 0).
 */
public record GatewayAddress(Destination destination, int hboneMtlsPort) {

    public static final int DEFAULT_HBONE_PORT = 15008;

    public GatewayAddress {
        hboneMtlsPort = hboneMtlsPort == 0 ? DEFAULT_HBONE_PORT : hboneMtlsPort;
    }

    /** Where the gateway is. */
    public sealed interface Destination permits Address, Hostname {}

    /** By IP (a workload address or a service VIP). */
    public record Address(NetworkAddress address) implements Destination {
        @Override
        public String toString() {
            return address.toString();
        }
    }

    /** By service host name. */
    public record Hostname(NamespacedHostname hostname) implements Destination {
        @Override
        public String toString() {
            return hostname.toString();
        }
    }
}
