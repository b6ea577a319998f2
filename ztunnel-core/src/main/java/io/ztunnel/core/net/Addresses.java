package io.ztunnel.core.net;

import io.netty.util.NetUtil;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;

/**
 * How the data plane writes and compares IP addresses: IPv4-mapped IPv6 addresses are folded to IPv4 (as ztunnel
 * canonicalises peers), and {@code ip:port} is written with IPv6 in brackets. Stateless.
 */
public final class Addresses {
    private Addresses() {}

    /** {@code ip:port} with IPv6 in brackets and IPv4-mapped IPv6 shown as IPv4. */
    public static String format(InetAddress ip, int port) {
        InetAddress canonical = canonical(ip);
        String host = NetUtil.toAddressString(canonical);
        return (canonical instanceof Inet6Address ? "[" + host + "]" : host) + ":" + port;
    }

    /** As {@link #format(InetAddress, int)}; an unresolved address is written {@code host:port}. */
    public static String format(InetSocketAddress address) {
        return address.isUnresolved()
                ? address.getHostString() + ":" + address.getPort()
                : format(address.getAddress(), address.getPort());
    }

    /** Converts IPv4-mapped IPv6 addresses ({@code ::ffff:a.b.c.d}) to IPv4; other addresses are returned as given. */
    public static InetAddress canonical(InetAddress ip) {
        if (ip instanceof Inet6Address v6) {
            byte[] b = v6.getAddress();
            boolean mapped = true;
            for (int i = 0; i < 10; i++) {
                mapped &= b[i] == 0;
            }
            if (mapped && b[10] == (byte) 0xff && b[11] == (byte) 0xff) {
                return fromBytes(new byte[] {b[12], b[13], b[14], b[15]});
            }
        }
        return ip;
    }

    /** The address of 4 or 16 raw bytes, canonical. */
    static InetAddress canonicalFromBytes(byte[] raw) {
        return canonical(fromBytes(raw));
    }

    private static InetAddress fromBytes(byte[] raw) {
        try {
            return InetAddress.getByAddress(raw);
        } catch (UnknownHostException e) {
            // getByAddress fails only for a length other than 4 or 16, which callers never pass.
            throw new IllegalArgumentException("not an IP address: " + raw.length + " bytes", e);
        }
    }
}
