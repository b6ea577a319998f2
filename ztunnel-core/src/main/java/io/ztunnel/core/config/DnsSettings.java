package io.ztunnel.core.config;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Whether the DNS proxy runs and where it listens, from the proxy metadata (mesh config {@code proxyMetadata} <
 * {@code PROXY_CONFIG} < {@code ISTIO_META_*}), as Istio's ztunnel reads it:
 *
 * <ul>
 *   <li>{@code DNS_CAPTURE}: the proxy is on unless this key is present and, lower-cased, is not {@code true}.
 *   <li>{@code DNS_PROXY_ADDR}: {@code localhost:<port>} (127.0.0.1, plus ::1 when IPv6 is enabled and works on
 *       {@code lo}) or a literal {@code <ip>:<port>} ({@code [v6]:port}); a bad value stops the start. Default
 *       {@code localhost:15053}.
 * </ul>
 *
 * Immutable.
 *
 * @param enabled the proxy runs
 * @param literal the literal listen address, or null for localhost
 * @param port the port of the localhost form
 * @param addressSet whether {@code DNS_PROXY_ADDR} was given (dedicated mode falls back to {@code PROXY_BIND_ADDRESS}
 *     only when it was not)
 */
public record DnsSettings(boolean enabled, @Nullable InetSocketAddress literal, int port, boolean addressSet) {
    public static final int DEFAULT_PORT = 15053;
    public static final String CAPTURE_KEY = "DNS_CAPTURE";
    public static final String ADDRESS_KEY = "DNS_PROXY_ADDR";

    public static final DnsSettings DISABLED = new DnsSettings(false, null, DEFAULT_PORT, false);

    /** Reads {@code DNS_CAPTURE} and {@code DNS_PROXY_ADDR} from the merged proxy metadata. */
    public static DnsSettings fromProxyMetadata(Map<String, String> metadata) {
        String capture = metadata.get(CAPTURE_KEY);
        boolean enabled = capture == null || capture.toLowerCase(Locale.ROOT).equals("true");
        String address = metadata.get(ADDRESS_KEY);
        if (address == null) {
            return new DnsSettings(enabled, null, DEFAULT_PORT, false);
        }
        int colon = address.lastIndexOf(':');
        if (colon <= 0 || colon == address.length() - 1) {
            throw bad(address);
        }
        String host = address.substring(0, colon);
        int port;
        try {
            port = Integer.parseInt(address.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw bad(address);
        }
        if (port < 0 || port > 65535) {
            throw bad(address);
        }
        if (host.equals("localhost")) {
            return new DnsSettings(enabled, null, port, true);
        }
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        } else if (host.contains(":")) {
            throw bad(address); // an IPv6 literal needs brackets
        }
        try {
            return new DnsSettings(enabled, new InetSocketAddress(InetAddress.ofLiteral(host), port), port, true);
        } catch (IllegalArgumentException e) {
            throw bad(address);
        }
    }

    private static ConfigException bad(String value) {
        return new ConfigException(
                ADDRESS_KEY + "=" + value + " (proxy metadata): expected localhost:<port> or <ip>:<port>");
    }
}
