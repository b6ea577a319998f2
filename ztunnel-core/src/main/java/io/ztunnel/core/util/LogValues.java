package io.ztunnel.core.util;

import io.netty.util.NetUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import org.jspecify.annotations.Nullable;

/**
 * How a structured log field's value is written, following Istio ztunnel's log format. The kind comes from the value's
 * type:
 *
 * <ul>
 *   <li>a {@link String} is text: quoted and escaped in the plain format ({@code dst.service="echo.default..."}), a
 *       JSON string;
 *   <li>a {@link Number} or {@link Boolean} is written bare, and stays a JSON number or boolean;
 *   <li>anything else, and {@link #display} values, are shown as their {@code toString()}: bare in the plain format
 *       ({@code src.addr=10.0.0.1:40000}), a JSON string;
 *   <li>a {@code null} value omits the field.
 * </ul>
 *
 * Stateless.
 */
public final class LogValues {
    private LogValues() {}

    /** A value written bare (an address, an id): its text as is, a JSON string. */
    public record Display(String text) {
        @Override
        public String toString() {
            return text;
        }
    }

    /** {@code value}'s text, written bare; null stays null (the field is omitted). */
    public static @Nullable Display display(@Nullable Object value) {
        return value == null ? null : new Display(value.toString());
    }

    /** {@code ip:port} as ztunnel writes a socket address ({@code [fd00::1]:80}), written bare; null stays null. */
    public static @Nullable Display address(@Nullable InetSocketAddress address) {
        if (address == null) {
            return null;
        }
        InetAddress ip = address.getAddress();
        String host = ip == null ? address.getHostString() : NetUtil.toAddressString(ip);
        return new Display(
                host.indexOf(':') >= 0 ? "[" + host + "]:" + address.getPort() : host + ":" + address.getPort());
    }
}
