package io.ztunnel.cni.linux;

import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelFactory;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.unix.UnixChannel;
import io.netty.util.concurrent.FastThreadLocalThread;
import io.ztunnel.cni.ErrorText;
import java.io.IOException;
import java.time.Duration;
import java.util.Objects;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;

/**
 * A Netty {@link ChannelFactory} whose channels' sockets live in a given network namespace and
 * carry {@code SO_MARK}, for {@code Bootstrap.channelFactory(...)} / {@code
 * ServerBootstrap.channelFactory(...)}.
 *
 * <p>Netty opens the socket in the channel constructor, so for a pod namespace the constructor runs
 * on the {@link PodNetns} thread (see there); the socket stays in that namespace afterwards,
 * whichever thread uses it. Before the channel is returned its socket gets {@code SO_MARK} (so the
 * in-pod iptables rules let its traffic through) and, for server channels when asked, {@code
 * SO_REUSEPORT} (so an upgraded daemon can bind the same ports while this one drains). The {@code
 * host*} factories do the same in the daemon's own namespace, on the calling thread.
 *
 * <p>Threading: on a Netty event loop thread, {@link #newChannel()} (Netty calls it from {@code
 * bind()}/{@code connect()}) enters the namespace itself for the socket call ({@link
 * PodNetns#callOnThisThread}); any other thread blocks for the hop to the netns thread, normally
 * microseconds, at most 10 s.
 * Ownership: the {@link PodNetns} stays owned by the caller and must outlive the factory's use; the
 * returned channel is the caller's. On any failure the half-made channel is closed and a {@link
 * ChannelException} naming the namespace and the step is thrown.
 *
 * @param <C> the epoll channel type
 */
public final class NetnsChannelFactory<C extends Channel & UnixChannel> implements ChannelFactory<C> {
    private static final Duration CONSTRUCT_TIMEOUT = Duration.ofSeconds(10);

    private final @Nullable PodNetns netns; // null = the calling thread's (the daemon's own) namespace
    private final Supplier<C> constructor;
    private final int mark;
    private final boolean reusePort;
    private final String kind;

    private NetnsChannelFactory(
            @Nullable PodNetns netns, Supplier<C> constructor, int mark, boolean reusePort, String kind) {
        this.netns = netns;
        this.constructor = Objects.requireNonNull(constructor, "constructor");
        this.mark = mark;
        this.reusePort = reusePort;
        this.kind = kind;
    }

    /**
     * Channels built by {@code constructor} inside {@code netns} (or on the calling thread when
     * {@code netns} is null), marked with {@code mark}, with {@code SO_REUSEPORT} if {@code
     * reusePort}.
     */
    public static <C extends Channel & UnixChannel> NetnsChannelFactory<C> of(
            @Nullable PodNetns netns, Supplier<C> constructor, int mark, boolean reusePort) {
        return new NetnsChannelFactory<>(netns, constructor, mark, reusePort, "channel");
    }

    /** TCP client sockets in {@code netns}. */
    public static NetnsChannelFactory<EpollSocketChannel> socket(PodNetns netns, int mark) {
        return new NetnsChannelFactory<>(
                Objects.requireNonNull(netns, "netns"), EpollSocketChannel::new, mark, false, "socket");
    }

    /** TCP listeners in {@code netns}. */
    public static NetnsChannelFactory<EpollServerSocketChannel> serverSocket(
            PodNetns netns, int mark, boolean reusePort) {
        return new NetnsChannelFactory<>(
                Objects.requireNonNull(netns, "netns"),
                EpollServerSocketChannel::new,
                mark,
                reusePort,
                "server socket");
    }

    /** UDP sockets in {@code netns} (the DNS proxy). */
    public static NetnsChannelFactory<EpollDatagramChannel> datagram(PodNetns netns, int mark) {
        return new NetnsChannelFactory<>(
                Objects.requireNonNull(netns, "netns"), EpollDatagramChannel::new, mark, false, "datagram");
    }

    /** TCP client sockets in the daemon's own namespace. */
    public static NetnsChannelFactory<EpollSocketChannel> hostSocket(int mark) {
        return new NetnsChannelFactory<>(null, EpollSocketChannel::new, mark, false, "socket");
    }

    /** TCP listeners in the daemon's own namespace. */
    public static NetnsChannelFactory<EpollServerSocketChannel> hostServerSocket(int mark, boolean reusePort) {
        return new NetnsChannelFactory<>(null, EpollServerSocketChannel::new, mark, reusePort, "server socket");
    }

    @Override
    public C newChannel() {
        try {
            if (netns == null) {
                return build();
            }
            // An event loop (Netty's own long-lived threads) enters the namespace for the socket call itself
            // rather than waiting for the namespace's thread: a hop costs two context switches per connection.
            return Thread.currentThread() instanceof FastThreadLocalThread
                    ? netns.callOnThisThread(this::build)
                    : netns.call(this::build, CONSTRUCT_TIMEOUT);
        } catch (ChannelException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new ChannelException("cannot create " + kind + " in " + where() + ": " + ErrorText.of(e), e);
        }
    }

    private C build() throws IOException {
        C channel = constructor.get();
        try {
            int fd = channel.fd().intValue();
            SocketOptions.setMark(fd, mark);
            if (reusePort) {
                channel.config().setOption(EpollChannelOption.SO_REUSEPORT, true);
            }
            return channel;
        } catch (IOException | RuntimeException e) {
            channel.unsafe().closeForcibly();
            throw e;
        }
    }

    private String where() {
        return netns == null ? "the host network namespace" : "netns " + netns.id() + " (" + netns.description() + ")";
    }

    @Override
    public String toString() {
        return "NetnsChannelFactory{"
                + kind
                + " in "
                + where()
                + ", mark "
                + mark
                + (reusePort ? ", SO_REUSEPORT" : "")
                + "}";
    }
}
