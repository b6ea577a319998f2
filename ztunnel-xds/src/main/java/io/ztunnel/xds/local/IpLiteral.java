package io.ztunnel.xds.local;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import org.jspecify.annotations.Nullable;

/**
 * Strict parsing of IP address literals and CIDR ranges into the raw bytes the workload protos
 * carry, never touching DNS.
 *
 * <p>Accepts what Rust's {@code IpAddr}/{@code IpNet} parsers accept: dotted-quad IPv4 without
 * leading zeros, and IPv6 in any RFC 4291 text form (including an embedded IPv4 tail) without
 * brackets or zone ids. An IPv4-mapped IPv6 literal stays 16 bytes, as in Rust.
 *
 * <p>Stateless and thread-safe.
 */
final class IpLiteral {
    private IpLiteral() {}

    /** A parsed CIDR: address bytes (4 or 16) and prefix length. */
    record Cidr(byte[] address, int prefixLength) {}

    /** Returns the 4 or 16 address bytes, or null if {@code text} is not an IP literal. */
    static byte @Nullable [] parse(String text) {
        if (text.isEmpty() || text.length() > 45) {
            return null;
        }
        if (text.indexOf(':') < 0) {
            return parseV4(text);
        }
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean ok =
                    (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
            if (!ok) {
                return null;
            }
        }
        int dot = text.indexOf('.');
        if (dot >= 0) {
            // The IPv4 tail must itself be strict (no leading zeros), which the JDK does not check.
            int lastColon = text.lastIndexOf(':');
            if (lastColon > dot || parseV4(text.substring(lastColon + 1)) == null) {
                return null;
            }
        }
        try {
            // Only hex digits, ':' and '.' remain, so this is a literal parse, never a DNS lookup.
            InetAddress address = InetAddress.getByName(text);
            byte[] bytes = address.getAddress();
            if (address instanceof Inet4Address) {
                // The JDK folds ::ffff:a.b.c.d into an IPv4 address; keep the IPv6 form.
                byte[] mapped = new byte[16];
                mapped[10] = (byte) 0xff;
                mapped[11] = (byte) 0xff;
                System.arraycopy(bytes, 0, mapped, 12, 4);
                return mapped;
            }
            return bytes;
        } catch (UnknownHostException | IllegalArgumentException e) {
            return null;
        }
    }

    private static byte @Nullable [] parseV4(String text) {
        byte[] out = new byte[4];
        int part = 0;
        int i = 0;
        int n = text.length();
        while (part < 4) {
            int start = i;
            int value = 0;
            while (i < n && text.charAt(i) >= '0' && text.charAt(i) <= '9') {
                value = value * 10 + (text.charAt(i) - '0');
                i++;
                if (i - start > 3) {
                    return null;
                }
            }
            int digits = i - start;
            if (digits == 0 || value > 255 || (digits > 1 && text.charAt(start) == '0')) {
                return null;
            }
            out[part++] = (byte) value;
            if (part < 4) {
                if (i >= n || text.charAt(i) != '.') {
                    return null;
                }
                i++;
            }
        }
        return i == n ? out : null;
    }

    /** Parses {@code ip/len}; returns null if malformed or the length is out of range. */
    static @Nullable Cidr parseCidr(String text) {
        int slash = text.indexOf('/');
        if (slash < 0) {
            return null;
        }
        byte[] address = parse(text.substring(0, slash));
        String len = text.substring(slash + 1);
        if (address == null || len.isEmpty() || len.length() > 3) {
            return null;
        }
        int prefix = 0;
        for (int i = 0; i < len.length(); i++) {
            char c = len.charAt(i);
            if (c < '0' || c > '9') {
                return null;
            }
            prefix = prefix * 10 + (c - '0');
        }
        if (prefix > address.length * 8) {
            return null;
        }
        return new Cidr(address, prefix);
    }

    /** Formats address bytes back to text (for messages and tests). */
    static String format(byte[] address) {
        try {
            return InetAddress.getByAddress(address).getHostAddress();
        } catch (UnknownHostException e) {
            return "<" + address.length + " bytes>";
        }
    }
}
