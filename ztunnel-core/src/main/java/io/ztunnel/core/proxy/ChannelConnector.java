package io.ztunnel.core.proxy;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.socket.SocketChannel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * Opens outgoing TCP connections for the data plane (to an app, to a peer's HBONE port, or plain passthrough) with the
 * socket options Istio's ztunnel uses: TCP_NODELAY, keepalive 180 s / 180 s / 9 probes, a 10 s connect timeout, half
 * closure allowed, reads off until the caller starts relaying. Where sockets are created (which network namespace,
 * which mark) is decided by the channel factory, so one connector per pod.
 *
 * <p>Immutable and thread-safe; the returned channel lives on the given event loop.
 */
public final class ChannelConnector {
    public static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    /** Relay buffering per direction before reads on the other side pause. */
    public static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(128 * 1024, 512 * 1024);

    private final Transport transport;
    private final ChannelFactory<? extends SocketChannel> channelFactory;
    private final Duration connectTimeout;
    private final boolean keepalive;

    public ChannelConnector(
            Transport transport,
            ChannelFactory<? extends SocketChannel> channelFactory,
            Duration connectTimeout,
            boolean keepalive) {
        this.transport = transport;
        this.channelFactory = channelFactory;
        this.connectTimeout = connectTimeout;
        this.keepalive = keepalive;
    }

    /** A connector creating plain sockets in the daemon's own network namespace. */
    public static ChannelConnector plain(Transport transport) {
        return new ChannelConnector(transport, transport.socketFactory(), CONNECT_TIMEOUT, true);
    }

    public Transport transport() {
        return transport;
    }

    /**
     * Connects to {@code remote}. When {@code source} is given the socket is bound to it first with
     * {@code IP_TRANSPARENT} + {@code IP_FREEBIND}, so the peer sees that address (original-source preservation).
     * With a {@code null} handler the channel gets a {@link PendingInput}, ready for {@link Relay#start}.
     */
    public ChannelFuture connect(EventLoop loop, InetSocketAddress remote, InetAddress source, ChannelHandler handler) {
        Bootstrap bootstrap = new Bootstrap()
                .group(loop)
                .channelFactory(channelFactory)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) connectTimeout.toMillis())
                .handler(handler == null ? new PendingInput() : handler);
        if (keepalive) {
            bootstrap.option(ChannelOption.SO_KEEPALIVE, true);
            if (transport.isEpoll()) {
                bootstrap
                        .option(EpollChannelOption.TCP_KEEPIDLE, 180)
                        .option(EpollChannelOption.TCP_KEEPINTVL, 180)
                        .option(EpollChannelOption.TCP_KEEPCNT, 9);
            }
        }
        if (source != null) {
            if (transport.isEpoll()) {
                // The sockets are dual-stack IPv6 sockets: set the IPv6 flavours too, so IPv4-mapped and IPv6
                // client addresses both bind.
                // Epoll client channels do not know EpollChannelOption.IP_FREEBIND (Bootstrap would warn on every
                // connect and skip it), so the raw socket option is used for both families.
                bootstrap
                        .option(EpollChannelOption.IP_TRANSPARENT, true)
                        .option(io.ztunnel.cni.linux.SocketOptions.IP_FREEBIND, 1)
                        .option(io.ztunnel.cni.linux.SocketOptions.IPV6_TRANSPARENT, 1)
                        .option(io.ztunnel.cni.linux.SocketOptions.IPV6_FREEBIND, 1);
            }
            return bootstrap.connect(remote, new InetSocketAddress(source, 0));
        }
        return bootstrap.connect(remote);
    }
}
