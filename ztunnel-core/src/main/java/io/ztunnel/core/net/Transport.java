package io.ztunnel.core.net;

import io.netty.channel.ChannelFactory;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ReflectiveChannelFactory;
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
import java.util.concurrent.TimeUnit;

/**
 * The socket transport: Linux epoll when its native library loads (needed for socket marks, original destination and
 * transparent sockets), Java NIO otherwise (tests on other platforms). Immutable.
 */
public record Transport(
        String name,
        IoHandlerFactory ioHandlerFactory,
        Class<? extends SocketChannel> socketChannel,
        Class<? extends ServerChannel> serverChannel) {

    public static Transport best() {
        return Epoll.isAvailable() ? epoll() : nio();
    }

    public static Transport epoll() {
        Epoll.ensureAvailability();
        return new Transport(
                "epoll", EpollIoHandler.newFactory(), EpollSocketChannel.class, EpollServerSocketChannel.class);
    }

    public static Transport nio() {
        return new Transport("nio", NioIoHandler.newFactory(), NioSocketChannel.class, NioServerSocketChannel.class);
    }

    /** Creates client sockets in the daemon's own network namespace. */
    public ChannelFactory<? extends SocketChannel> socketFactory() {
        return new ReflectiveChannelFactory<>(socketChannel);
    }

    /** Creates listening sockets in the daemon's own network namespace. */
    public ChannelFactory<? extends ServerChannel> serverSocketFactory() {
        return new ReflectiveChannelFactory<>(serverChannel);
    }

    public boolean isEpoll() {
        return name.equals("epoll");
    }

    /** A new event loop group whose threads are named {@code <prefix>-N}; stop it with {@link #shutdown}. */
    public EventLoopGroup newGroup(int threads, String prefix) {
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(prefix, true), ioHandlerFactory);
    }

    /**
     * Stops {@code group} and waits for it (at most about two seconds). The loops stop only after 50 ms without work,
     * not at once: with no quiet period a loop ends right after the task pass that ran the last queued work, and a
     * channel registered (or a TLS handler added) by that pass is never closed, so its engine leaks. Each
     * quiet-period pass closes whatever is still registered. Must not be called from one of the group's loops.
     */
    public static void shutdown(EventLoopGroup group) {
        group.shutdownGracefully(50, 2000, TimeUnit.MILLISECONDS).syncUninterruptibly();
    }
}
