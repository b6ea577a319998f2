package io.ztunnel.core.state;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.util.Objects;

/** An IP address on a network ({@code ""} is the default network); written {@code network/ip} as in ztunnel
 * (IPv6 compressed, RFC 5952). */
public record NetworkAddress(String network, InetAddress address) {
    public NetworkAddress {
        network = network == null ? "" : network;
        Objects.requireNonNull(address, "address");
    }

    /**
     * The record's hash with its bits mixed. An IPv4 address hashes to its own 32 bits, so a cluster's pod and
     * service addresses have consecutive hash codes; the JDK's immutable maps ({@code Map.copyOf}, which the state's
     * indexes are) probe linearly, and consecutive hashes fill one long run of slots that every miss walks to its
     * end (a lookup of an address outside the mesh cost ~12 µs with 10,000 pods; see ztunnel-bench/README.md).
     */
    @Override
    public int hashCode() {
        int h = network.hashCode() * 31 + address.hashCode();
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        h *= 0xc2b2ae35;
        return h ^ (h >>> 16);
    }

    @Override
    public String toString() {
        return network + "/" + NetUtil.toAddressString(address);
    }
}
