package io.ztunnel.core.state;

import io.netty.util.NetUtil;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;

/** An IP prefix ({@code 10.0.0.0/8}, {@code fd00::/8}); a bare address is a /32 or /128. Immutable. */
public record Cidr(InetAddress address, int prefixLength) {

    public Cidr {
        int max = address instanceof Inet4Address ? 32 : 128;
        if (prefixLength < 0 || prefixLength > max) {
            throw new IllegalArgumentException(
                    "prefix length " + prefixLength + " out of range 0.." + max + " for " + address.getHostAddress());
        }
    }

    public static Cidr host(InetAddress address) {
        return new Cidr(address, address instanceof Inet4Address ? 32 : 128);
    }

    /** Parses {@code ip} or {@code ip/len}. */
    public static Cidr parse(String text) {
        int slash = text.indexOf('/');
        String ip = slash < 0 ? text : text.substring(0, slash);
        byte[] raw = NetUtil.createByteArrayFromIpAddressString(ip.trim());
        if (raw == null) {
            throw new IllegalArgumentException("invalid IP address \"" + ip + "\"");
        }
        InetAddress address;
        try {
            address = InetAddress.getByAddress(raw);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
        if (slash < 0) {
            return host(address);
        }
        try {
            return new Cidr(address, Integer.parseInt(text.substring(slash + 1).trim()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("invalid prefix length in \"" + text + "\"");
        }
    }

    /** Whether {@code ip} is in this prefix (an IPv4 address never matches an IPv6 prefix and vice versa). */
    public boolean contains(InetAddress ip) {
        byte[] net = address.getAddress();
        byte[] candidate = ip.getAddress();
        if (net.length != candidate.length) {
            return false;
        }
        int full = prefixLength / 8;
        for (int i = 0; i < full; i++) {
            if (net[i] != candidate[i]) {
                return false;
            }
        }
        int rest = prefixLength % 8;
        if (rest == 0) {
            return true;
        }
        int mask = (0xff << (8 - rest)) & 0xff;
        return (net[full] & mask) == (candidate[full] & mask);
    }

    @Override
    public String toString() {
        return NetUtil.toAddressString(address) + "/" + prefixLength;
    }
}
