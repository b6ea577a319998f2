package io.ztunnel.core.proxy;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;

/**
 * The socket transport: Linux epoll when its native library loads (needed for socket marks, original destination and
 * transparent sockets), Java NIO otherwise (tests on other platforms). Immutable.
 */
public record Transport(String name, IoHandlerFactory ioHandlerFactory, Class<? extends SocketChannel> socketChannel,
        Class<? extends ServerChannel> serverChannel) {

    public static Transport best() {
        return Epoll.isAvailable() ? epoll() : nio();
    }

    public static Transport epoll() {
        Epoll.ensureAvailability();
        return new Transport("epoll", EpollIoHandler.newFactory(), EpollSocketChannel.class,
                EpollServerSocketChannel.class);
    }

    public static Transport nio() {
        return new Transport("nio", NioIoHandler.newFactory(), NioSocketChannel.class, NioServerSocketChannel.class);
    }

    /** Creates client sockets in the daemon's own network namespace, kept registered (see {@link EpollSockets}). */
    public io.netty.channel.ChannelFactory<SocketChannel> socketFactory() {
        io.netty.channel.ReflectiveChannelFactory<? extends SocketChannel> reflective =
                new io.netty.channel.ReflectiveChannelFactory<>(socketChannel);
        return () -> {
            SocketChannel channel = reflective.newChannel();
            EpollSockets.keepRegistered(channel);
            return channel;
        };
    }

    public boolean isEpoll() {
        return name.equals("epoll");
    }

    /** A new event loop group whose threads are named {@code <prefix>-N}. */
    public EventLoopGroup newGroup(int threads, String prefix) {
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(prefix, true), ioHandlerFactory);
    }
}
