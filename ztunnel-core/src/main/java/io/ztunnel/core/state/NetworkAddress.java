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

    @Override
    public String toString() {
        return network + "/" + NetUtil.toAddressString(address);
    }
}
