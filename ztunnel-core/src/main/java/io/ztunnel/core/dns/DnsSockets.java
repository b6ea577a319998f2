package io.ztunnel.core.dns;

import io.netty.channel.ChannelFactory;
import io.netty.channel.ReflectiveChannelFactory;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.ztunnel.cni.linux.NetnsChannelFactory;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.core.util.Errors;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where a DNS server's sockets live: in an enrolled pod's network namespace (shared mode; every socket marked with
 * {@code PACKET_MARK} so the pod's rules neither capture the upstream queries nor the replies, listeners with
 * {@code SO_REUSEPORT}), or in the daemon's own namespace (dedicated mode). Implementations are immutable and
 * thread-safe; the pod's {@link PodNetns} stays owned by the caller and must outlive the sockets' creation.
 */
interface DnsSockets {
    /** UDP listening sockets. */
    ChannelFactory<? extends DatagramChannel> udpServer();

    /** TCP listening sockets. */
    ChannelFactory<? extends ServerChannel> tcpServer();

    /** UDP sockets for upstream queries. */
    ChannelFactory<? extends DatagramChannel> udpClient();

    /** TCP sockets for upstream queries. */
    ChannelFactory<? extends SocketChannel> tcpClient();

    /** Whether IPv6 works on {@code lo} where the sockets live ({@code disable_ipv6} is not 1; unknown = yes). */
    boolean ipv6Loopback();

    /** Where, for logs. */
    String description();

    /** Sockets inside a pod's network namespace, marked, listeners with {@code SO_REUSEPORT} when asked. */
    static DnsSockets pod(PodNetns netns, int mark, boolean reusePort) {
        return new DnsSockets() {
            private final NetnsChannelFactory<EpollDatagramChannel> udpServer =
                    NetnsChannelFactory.of(netns, EpollDatagramChannel::new, mark, reusePort);
            private final NetnsChannelFactory<EpollServerSocketChannel> tcpServer =
                    NetnsChannelFactory.serverSocket(netns, mark, reusePort);
            private final NetnsChannelFactory<EpollDatagramChannel> udpClient =
                    NetnsChannelFactory.datagram(netns, mark);
            private final NetnsChannelFactory<EpollSocketChannel> tcpClient = NetnsChannelFactory.socket(netns, mark);

            @Override
            public ChannelFactory<? extends DatagramChannel> udpServer() {
                return udpServer;
            }

            @Override
            public ChannelFactory<? extends ServerChannel> tcpServer() {
                return tcpServer;
            }

            @Override
            public ChannelFactory<? extends DatagramChannel> udpClient() {
                return udpClient;
            }

            @Override
            public ChannelFactory<? extends SocketChannel> tcpClient() {
                return tcpClient;
            }

            @Override
            public boolean ipv6Loopback() {
                try {
                    // /proc/sys/net shows the namespace of the thread that opens it: read it on the pod's thread.
                    return netns.call(DnsSockets::loopbackHasIpv6);
                } catch (IOException e) {
                    Holder.log
                            .atWarn()
                            .addKeyValue("netns", netns.description())
                            .addKeyValue("error", Errors.message(e))
                            .log("cannot tell whether IPv6 works on lo; trying ::1");
                    return true;
                }
            }

            @Override
            public String description() {
                return "netns " + netns.id() + " (" + netns.description() + ")";
            }
        };
    }

    /** Sockets in the daemon's own namespace (dedicated mode); marked only when {@code mark} is not 0. */
    static DnsSockets host(boolean epoll, int mark) {
        if (epoll && mark != 0) {
            return new Host(
                    NetnsChannelFactory.of(null, EpollDatagramChannel::new, mark, false),
                    NetnsChannelFactory.hostServerSocket(mark, false),
                    NetnsChannelFactory.of(null, EpollDatagramChannel::new, mark, false),
                    NetnsChannelFactory.hostSocket(mark));
        }
        if (epoll && Epoll.isAvailable()) {
            return new Host(
                    new ReflectiveChannelFactory<>(EpollDatagramChannel.class),
                    new ReflectiveChannelFactory<>(EpollServerSocketChannel.class),
                    new ReflectiveChannelFactory<>(EpollDatagramChannel.class),
                    new ReflectiveChannelFactory<>(EpollSocketChannel.class));
        }
        return new Host(
                new ReflectiveChannelFactory<>(NioDatagramChannel.class),
                new ReflectiveChannelFactory<>(NioServerSocketChannel.class),
                new ReflectiveChannelFactory<>(NioDatagramChannel.class),
                new ReflectiveChannelFactory<>(NioSocketChannel.class));
    }

    /** Reads {@code disable_ipv6} of {@code lo} in the calling thread's namespace. */
    static boolean loopbackHasIpv6() {
        try {
            return !Files.readString(Path.of("/proc/sys/net/ipv6/conf/lo/disable_ipv6"), StandardCharsets.US_ASCII)
                    .strip()
                    .equals("1");
        } catch (IOException e) {
            return Files.isDirectory(Path.of("/proc/sys/net/ipv6")); // no file: IPv6 is off (or /proc is unusual)
        }
    }

    /** The daemon's own namespace. */
    record Host(
            ChannelFactory<? extends DatagramChannel> udpServer,
            ChannelFactory<? extends ServerChannel> tcpServer,
            ChannelFactory<? extends DatagramChannel> udpClient,
            ChannelFactory<? extends SocketChannel> tcpClient)
            implements DnsSockets {
        @Override
        public boolean ipv6Loopback() {
            return loopbackHasIpv6();
        }

        @Override
        public String description() {
            return "the daemon's network namespace";
        }
    }

    /** The logger, kept out of the interface's constants. */
    final class Holder {
        static final Logger log = LoggerFactory.getLogger(DnsSockets.class);

        private Holder() {}
    }
}
