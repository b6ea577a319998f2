package io.ztunnel.core.net;

import io.netty.util.NetUtil;
import java.net.InetSocketAddress;

/**
 * The target of an HBONE CONNECT, from its {@code :authority}: either an IP socket address ({@code 10.0.0.1:80},
 * {@code [fd00::1]:80}) or a service host name and port ({@code reviews.default.svc.cluster.local:9080}). Immutable.
 */
public sealed interface HboneAddress {

    int port();

    /** The authority form, IPv6 addresses in brackets. */
    String authority();

    /** An IP target. */
    record Ip(InetSocketAddress address) implements HboneAddress {
        @Override
        public int port() {
            return address.getPort();
        }

        @Override
        public String authority() {
            return Addresses.format(address.getAddress(), address.getPort());
        }

        @Override
        public String toString() {
            return authority();
        }
    }

    /** A host name target (service host name). */
    record Host(String hostname, int port) implements HboneAddress {
        @Override
        public String authority() {
            return hostname + ":" + port;
        }

        @Override
        public String toString() {
            return authority();
        }
    }

    static HboneAddress of(InetSocketAddress address) {
        return new Ip(address);
    }

    /**
     * Parses an authority as ztunnel does: {@code ip:port}, {@code [v6]:port} or {@code host:port}.
     *
     * @throws IllegalArgumentException with the reason when it is none of these
     */
    static HboneAddress parse(CharSequence authority) {
        if (authority == null || authority.isEmpty()) {
            throw new IllegalArgumentException("missing :authority");
        }
        String s = authority.toString();
        int colon = s.lastIndexOf(':');
        if (colon <= 0 || colon == s.length() - 1) {
            throw new IllegalArgumentException("authority " + s + " is not host:port");
        }
        String host = s.substring(0, colon);
        int port = parsePort(s.substring(colon + 1), s);
        if (host.startsWith("[")) {
            if (!host.endsWith("]")) {
                throw new IllegalArgumentException("authority " + s + " has an unterminated IPv6 literal");
            }
            byte[] raw = NetUtil.createByteArrayFromIpAddressString(host.substring(1, host.length() - 1));
            if (raw == null || raw.length != 16) {
                throw new IllegalArgumentException("authority " + s + " has an invalid IPv6 address");
            }
            return new Ip(new InetSocketAddress(Addresses.canonicalFromBytes(raw), port));
        }
        if (host.indexOf(':') >= 0) {
            throw new IllegalArgumentException("authority " + s + ": IPv6 addresses must be in brackets");
        }
        byte[] raw = NetUtil.createByteArrayFromIpAddressString(host);
        if (raw != null) {
            return new Ip(new InetSocketAddress(Addresses.canonicalFromBytes(raw), port));
        }
        if (!isHostname(host)) {
            throw new IllegalArgumentException("authority " + s + " has an invalid host name");
        }
        return new Host(host, port);
    }

    private static int parsePort(String text, String authority) {
        if (text.length() > 5) {
            throw new IllegalArgumentException("authority " + authority + " has an invalid port");
        }
        int port = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < '0' || c > '9') {
                throw new IllegalArgumentException("authority " + authority + " has an invalid port");
            }
            port = port * 10 + (c - '0');
        }
        if (port > 65535) {
            throw new IllegalArgumentException("authority " + authority + " has an invalid port");
        }
        return port;
    }

    private static boolean isHostname(String host) {
        if (host.isEmpty() || host.length() > 253) {
            return false;
        }
        for (String label : host.split("\\.", -1)) {
            if (label.isEmpty() || label.length() > 63) {
                return false;
            }
            for (int i = 0; i < label.length(); i++) {
                char c = label.charAt(i);
                boolean ok = (c >= 'a' && c <= 'z')
                        || (c >= 'A' && c <= 'Z')
                        || (c >= '0' && c <= '9')
                        || c == '-'
                        || c == '_';
                if (!ok) {
                    return false;
                }
            }
        }
        return true;
    }
}
