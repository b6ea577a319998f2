package io.ztunnel.core.net;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ServerChannel;
import java.net.InetSocketAddress;
import java.util.Optional;

/**
 * Where a proxy's sockets live and how they are inspected: the daemon's own network namespace (dedicated mode) or a
 * pod's (in-pod mode, sockets marked so the pod's redirection rules let them through). Implementations are immutable
 * and thread-safe.
 */
public interface Sockets {

    /** Creates listening sockets. */
    ChannelFactory<? extends ServerChannel> serverChannels();

    /** Opens outgoing connections (to apps, HBONE peers, passthrough destinations). */
    ChannelConnector connector();

    /** Options to apply to listening sockets before bind (SO_REUSEPORT, IP_TRANSPARENT, ...). */
    default void configureListener(ServerBootstrap bootstrap) {}

    /**
     * The destination a client originally dialled before redirection ({@code SO_ORIGINAL_DST}), or empty when the
     * connection was not redirected (then the listener's own address is the destination).
     */
    default Optional<InetSocketAddress> originalDestination(Channel accepted) {
        return Optional.empty();
    }

    /** Sockets in the daemon's own network namespace, no marks, no redirection, upstream's default keepalive. */
    static Sockets host(Transport transport) {
        return host(transport, TcpKeepalive.DEFAULT);
    }

    /** Sockets in the daemon's own network namespace, no marks, no redirection; outgoing ones with {@code keepalive}. */
    static Sockets host(Transport transport, TcpKeepalive keepalive) {
        ChannelConnector connector = ChannelConnector.plain(transport, keepalive);
        ChannelFactory<? extends ServerChannel> servers = transport.serverSocketFactory();
        return new Sockets() {
            @Override
            public ChannelFactory<? extends ServerChannel> serverChannels() {
                return servers;
            }

            @Override
            public ChannelConnector connector() {
                return connector;
            }
        };
    }
}
