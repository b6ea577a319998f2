package io.ztunnel.core.net;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.EventLoop;
import io.netty.channel.socket.SocketChannel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import org.jspecify.annotations.Nullable;

/**
 * Opens outgoing TCP connections for the data plane (to an app, to a peer's HBONE port, or plain passthrough) with the
 * options of {@link SocketSettings}. Where sockets are created (which network namespace, which mark) is decided by the
 * channel factory, so one connector per pod. Every socket it creates stays registered with epoll after a half-close
 * ({@link EpollSockets}).
 *
 * <p>Immutable and thread-safe; the returned channel lives on the given event loop.
 */
public final class ChannelConnector {
    private final Transport transport;
    private final ChannelFactory<? extends SocketChannel> channelFactory;
    private final Duration connectTimeout;
    private final TcpKeepalive keepalive;

    public ChannelConnector(
            Transport transport,
            ChannelFactory<? extends SocketChannel> channelFactory,
            Duration connectTimeout,
            TcpKeepalive keepalive) {
        this.transport = transport;
        this.channelFactory = () -> {
            SocketChannel channel = channelFactory.newChannel();
            EpollSockets.keepRegistered(channel);
            return channel;
        };
        this.connectTimeout = connectTimeout;
        this.keepalive = keepalive;
    }

    /** A connector creating plain sockets in the daemon's own network namespace, with upstream's default keepalive. */
    public static ChannelConnector plain(Transport transport) {
        return plain(transport, TcpKeepalive.DEFAULT);
    }

    /** A connector creating plain sockets in the daemon's own network namespace. */
    public static ChannelConnector plain(Transport transport, TcpKeepalive keepalive) {
        return new ChannelConnector(transport, transport.socketFactory(), SocketSettings.CONNECT_TIMEOUT, keepalive);
    }

    public Transport transport() {
        return transport;
    }

    /**
     * Connects to {@code remote}. When {@code source} is given the socket is bound to it first with
     * {@code IP_TRANSPARENT} + {@code IP_FREEBIND}, so the peer sees that address (original-source preservation).
     * With a {@code null} handler the channel gets a {@link PendingInput}, ready for {@link Relay#start}.
     */
    public ChannelFuture connect(
            EventLoop loop, InetSocketAddress remote, @Nullable InetAddress source, @Nullable ChannelHandler handler) {
        Bootstrap bootstrap = new Bootstrap()
                .group(loop)
                .channelFactory(channelFactory)
                .handler(handler == null ? new PendingInput() : handler);
        SocketSettings.client(bootstrap, transport, connectTimeout, keepalive);
        if (source != null) {
            SocketSettings.transparentSource(bootstrap, transport);
            return bootstrap.connect(remote, new InetSocketAddress(source, 0));
        }
        return bootstrap.connect(remote);
    }

    /**
     * Connects to {@code remote} from {@code localAddress} (any port), an address this host owns (e.g. the loopback
     * address an application tunnel is reached from); no transparent-socket options. The channel gets a
     * {@link PendingInput}, ready for {@link Relay#start}.
     */
    public ChannelFuture connectBound(EventLoop loop, InetSocketAddress remote, InetAddress localAddress) {
        Bootstrap bootstrap =
                new Bootstrap().group(loop).channelFactory(channelFactory).handler(new PendingInput());
        SocketSettings.client(bootstrap, transport, connectTimeout, keepalive);
        return bootstrap.connect(remote, new InetSocketAddress(localAddress, 0));
    }
}
