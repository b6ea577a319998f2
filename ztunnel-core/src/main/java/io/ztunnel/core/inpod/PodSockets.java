package io.ztunnel.core.inpod;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ServerChannel;
import io.netty.channel.unix.UnixChannel;
import io.ztunnel.cni.linux.NetnsChannelFactory;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.linux.SocketOptions;
import io.ztunnel.core.net.ChannelConnector;
import io.ztunnel.core.net.SocketSettings;
import io.ztunnel.core.net.Sockets;
import io.ztunnel.core.net.TcpKeepalive;
import io.ztunnel.core.net.Transport;
import io.ztunnel.core.util.Errors;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sockets of one enrolled pod: created inside the pod's network namespace (so listeners see the pod's traffic and
 * outgoing connections leave from the pod's IP), all marked with {@code PACKET_MARK} (so the pod's redirection rules
 * let them through), listeners with {@code SO_REUSEPORT} (so an upgraded daemon can bind the same ports while this one
 * drains). The original destination of redirected connections comes from {@code SO_ORIGINAL_DST}.
 *
 * <p>Immutable and thread-safe. The {@link PodNetns} is owned by the caller (the pod's proxy set).
 */
final class PodSockets implements Sockets {
    private static final Logger log = LoggerFactory.getLogger(PodSockets.class);

    private final NetnsChannelFactory<? extends ServerChannel> servers;
    private final ChannelConnector connector;

    PodSockets(Transport transport, PodNetns netns, int mark, boolean reusePort, TcpKeepalive keepalive) {
        this.servers = NetnsChannelFactory.serverSocket(netns, mark, reusePort);
        this.connector = new ChannelConnector(
                transport, NetnsChannelFactory.socket(netns, mark), SocketSettings.CONNECT_TIMEOUT, keepalive);
    }

    @Override
    public ChannelFactory<? extends ServerChannel> serverChannels() {
        return servers;
    }

    @Override
    public ChannelConnector connector() {
        return connector;
    }

    @Override
    public void configureListener(ServerBootstrap bootstrap) {
        bootstrap.option(SocketOptions.IPV6_TRANSPARENT, 1);
    }

    @Override
    public Optional<InetSocketAddress> originalDestination(Channel accepted) {
        if (!(accepted instanceof UnixChannel unix)) {
            return Optional.empty();
        }
        try {
            return SocketOptions.originalDestination(unix);
        } catch (IOException e) {
            log.atDebug()
                    .addKeyValue("channel", accepted)
                    .addKeyValue("error", Errors.message(e))
                    .log("no original destination");
            return Optional.empty();
        }
    }
}
