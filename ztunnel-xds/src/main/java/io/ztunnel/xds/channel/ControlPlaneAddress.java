package io.ztunnel.xds.channel;

import io.ztunnel.xds.ErrorText;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;
import java.util.Objects;

/**
 * Where an istiod service is reached: ztunnel's {@code XDS_ADDRESS} / {@code CA_ADDRESS}.
 *
 * <p>Parsing follows upstream: a value without a scheme gets {@code https://}; {@code https} means
 * TLS (the normal case, port 15012 on istiod), {@code http} means plaintext (tests and
 * development only). A missing port defaults to 443 / 80. Paths, queries and user info are
 * rejected because gRPC has no use for them.
 *
 * @param tls whether the channel uses TLS
 * @param host host name or IP literal (without brackets); also the name the server certificate
 *     is checked against
 * @param port TCP port
 */
public record ControlPlaneAddress(boolean tls, String host, int port) {

    public ControlPlaneAddress {
        Objects.requireNonNull(host, "host");
        if (host.isEmpty()) {
            throw new IllegalArgumentException("host: empty");
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port: " + port + " (expected: 1-65535)");
        }
    }

    /**
     * Parses an address such as {@code https://istiod.istio-system.svc:15012}, {@code
     * istiod.istio-system.svc:15012} or {@code http://127.0.0.1:15010}.
     *
     * @throws IllegalArgumentException naming the value when it cannot be used
     */
    public static ControlPlaneAddress parse(String value) {
        Objects.requireNonNull(value, "value");
        String trimmed = value.strip();
        if (trimmed.isEmpty()) {
            throw new IllegalArgumentException("control plane address is empty");
        }
        String withScheme = trimmed.contains("://") ? trimmed : "https://" + trimmed;
        URI uri;
        try {
            uri = new URI(withScheme);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException(
                    "control plane address \"" + value + "\" is not a valid URL: " + ErrorText.of(e), e);
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        boolean tls = switch (scheme) {
            case "https" -> true;
            case "http" -> false;
            default ->
                throw new IllegalArgumentException(
                        "control plane address \"" + value + "\": scheme must be https or http");
        };
        String host = uri.getHost();
        if (host == null || host.isEmpty()) {
            throw new IllegalArgumentException("control plane address \"" + value + "\" has no host");
        }
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        String path = uri.getRawPath();
        if (uri.getRawUserInfo() != null
                || uri.getRawQuery() != null
                || uri.getRawFragment() != null
                || (path != null && !path.isEmpty() && !path.equals("/"))) {
            throw new IllegalArgumentException(
                    "control plane address \"" + value + "\" must be scheme://host:port only");
        }
        int port = uri.getPort() == -1 ? (tls ? 443 : 80) : uri.getPort();
        return new ControlPlaneAddress(tls, host, port);
    }

    /** The gRPC authority, {@code host:port} (IPv6 in brackets). */
    public String authority() {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }

    @Override
    public String toString() {
        return (tls ? "https://" : "http://") + authority();
    }
}
