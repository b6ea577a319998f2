package io.ztunnel.core.hbone;

import io.ztunnel.core.net.Addresses;
import java.net.InetSocketAddress;
import org.jspecify.annotations.Nullable;

/** The {@code forwarded} header of HBONE requests: {@code for="<client ip:port>"} plus {@code ;host=<service>}. */
public final class Forwarded {
    private Forwarded() {}

    public static String encode(InetSocketAddress client, @Nullable String serviceHost) {
        String value = "for=\"" + Addresses.format(client.getAddress(), client.getPort()) + "\"";
        return serviceHost == null || serviceHost.isEmpty() ? value : value + ";host=" + serviceHost;
    }

    /** The {@code host} parameter of the first element, or {@code null}. Lenient: malformed input gives null. */
    public static @Nullable String host(@Nullable CharSequence header) {
        if (header == null) {
            return null;
        }
        String first = header.toString().split(",", 2)[0];
        for (String pair : first.split(";")) {
            int eq = pair.indexOf('=');
            if (eq > 0 && pair.substring(0, eq).trim().equalsIgnoreCase("host")) {
                String value = pair.substring(eq + 1).trim();
                if (value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"")) {
                    value = value.substring(1, value.length() - 1);
                }
                return value.isEmpty() ? null : value;
            }
        }
        return null;
    }
}
