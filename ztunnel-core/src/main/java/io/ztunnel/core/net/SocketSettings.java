package io.ztunnel.core.net;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.EpollChannelOption;
import io.ztunnel.cni.linux.SocketOptions;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * Every socket option of the data plane, in one place, with Istio ztunnel's values: TCP_NODELAY, half-closure allowed,
 * reads off until a relay starts, the relay's write-buffer water marks, a 10 s connect timeout, and TCP keepalive and
 * user timeout from {@link TcpKeepalive} (SO_KEEPALIVE on every transport; the timings and TCP_USER_TIMEOUT where epoll
 * can set them).
 * Listener options ({@code IP_TRANSPARENT}, backlog) and the transparent-source options of upstream connects live here
 * too. Stateless.
 */
public final class SocketSettings {
    /** TCP connect timeout of dials and upstream connects. */
    public static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);

    /** Relay buffering per direction before reads on the other side pause (sockets and HTTP/2 streams alike). */
    public static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(128 * 1024, 512 * 1024);

    private static final int LISTEN_BACKLOG = 128;

    private SocketSettings() {}

    /** Where channel options go: a bootstrap's {@code option} or a server bootstrap's {@code childOption}. */
    @FunctionalInterface
    private interface Options {
        <T> Object set(ChannelOption<T> option, T value);
    }

    /** Options of an outgoing data-plane connection, made with {@code connectTimeout}. */
    static void client(Bootstrap bootstrap, Transport transport, Duration connectTimeout, TcpKeepalive keepalive) {
        Options options = bootstrap::option;
        stream(options);
        options.set(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) connectTimeout.toMillis());
        keepalive(options, transport, keepalive);
    }

    /**
     * Lets an outgoing connection bind a source address that is not local (the client's, for original-source
     * preservation). The sockets are dual-stack IPv6 sockets, so the IPv6 flavours are set too, and IPv4-mapped and
     * IPv6 client addresses both bind. Epoll client channels do not know {@code EpollChannelOption.IP_FREEBIND}
     * (Bootstrap would warn on every connect and skip it), so the raw socket option is used for both families. Does
     * nothing without epoll.
     */
    static void transparentSource(Bootstrap bootstrap, Transport transport) {
        if (transport.isEpoll()) {
            bootstrap
                    .option(EpollChannelOption.IP_TRANSPARENT, true)
                    .option(SocketOptions.IP_FREEBIND, 1)
                    .option(SocketOptions.IPV6_TRANSPARENT, 1)
                    .option(SocketOptions.IPV6_FREEBIND, 1);
        }
    }

    /**
     * Options of a data-plane listener and of the sockets it accepts. {@code IP_TRANSPARENT} is asked for on the
     * listener (accepting redirected connections addressed elsewhere) unless {@code ENABLE_ORIG_SRC} is
     * {@code false}; whether it took is read back from the bound channel.
     *
     * @param keepalive keepalive and user timeout of accepted sockets, {@code null} for none (ztunnel sets them on the
     *     outbound and plaintext listeners' sockets, not on the HBONE one's)
     * @param enableOriginalSource {@code ENABLE_ORIG_SRC}: {@code null} for automatic
     */
    public static void listener(
            ServerBootstrap bootstrap,
            Transport transport,
            @Nullable TcpKeepalive keepalive,
            @Nullable Boolean enableOriginalSource) {
        bootstrap.option(ChannelOption.SO_BACKLOG, LISTEN_BACKLOG);
        if (transport.isEpoll() && !Boolean.FALSE.equals(enableOriginalSource)) {
            bootstrap.option(EpollChannelOption.IP_TRANSPARENT, true);
        }
        Options children = bootstrap::childOption;
        stream(children);
        if (keepalive != null) {
            keepalive(children, transport, keepalive);
        }
    }

    /**
     * Turns an accepted or dialled socket into an HBONE connection's: the peer's FIN closes it. HTTP/2 has no
     * half-closed connection; with the data plane's half-closure left on, a connection whose peer left (or that a
     * client abandoned mid-handshake) stayed open, and once the peer reset it its socket spun in epoll. Call on the
     * channel's event loop before its first read.
     */
    public static void connectionLevel(Channel channel) {
        channel.config().setOption(ChannelOption.ALLOW_HALF_CLOSURE, false);
    }

    private static void stream(Options options) {
        options.set(ChannelOption.TCP_NODELAY, true);
        options.set(ChannelOption.ALLOW_HALF_CLOSURE, true);
        options.set(ChannelOption.AUTO_READ, false);
        options.set(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK);
    }

    private static void keepalive(Options options, Transport transport, TcpKeepalive keepalive) {
        if (keepalive.enabled()) {
            options.set(ChannelOption.SO_KEEPALIVE, true);
            if (transport.isEpoll()) {
                options.set(EpollChannelOption.TCP_KEEPIDLE, seconds(keepalive.time()));
                options.set(EpollChannelOption.TCP_KEEPINTVL, seconds(keepalive.interval()));
                options.set(EpollChannelOption.TCP_KEEPCNT, keepalive.retries());
            }
        }
        if (keepalive.userTimeoutEnabled() && transport.isEpoll()) {
            options.set(EpollChannelOption.TCP_USER_TIMEOUT, (int)
                    Math.min(Integer.MAX_VALUE, keepalive.userTimeout().toMillis()));
        }
    }

    private static int seconds(Duration d) {
        return (int) Math.min(Integer.MAX_VALUE, d.toSeconds());
    }
}
