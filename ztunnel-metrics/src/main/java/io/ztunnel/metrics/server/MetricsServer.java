package io.ztunnel.metrics.server;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.ztunnel.metrics.ZtunnelMetrics;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Prometheus scrape endpoint: HTTP/1.1 on {@code [::]:15020} by default, serving
 * {@code GET}/{@code HEAD} {@code /metrics} and {@code /stats/prometheus} in Prometheus text
 * 0.0.4, or OpenMetrics 1.0.0 when the {@code Accept} header asks for it, gzip-compressed when
 * {@code Accept-Encoding} allows. Requests must deliver their head within the header read timeout
 * (2 s by default); kept-alive connections idle longer than the idle timeout (5 min) are closed.
 *
 * <p>Threading: the server runs entirely on the {@link EventLoopGroup} given to the builder, which
 * must be the daemon's small control group (xDS, CA, admin, readiness), never the data-plane
 * group: a scrape renders every series on the event loop of its connection, and can take
 * milliseconds with many series, which must not add latency to proxied traffic. The transport
 * (epoll or NIO) follows the group's I/O handler. {@link #start} and {@link #close} block and must
 * not be called from an event loop thread.
 *
 * <p>Ownership: the caller owns the group and shuts it down; {@link #close} closes only this
 * server's listening socket and the connections it accepted.
 */
public final class MetricsServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(MetricsServer.class);

    /** Upstream ztunnel's stats port. */
    public static final int DEFAULT_PORT = 15020;

    /** How long {@link #close} waits for the JDK to release a NIO listener; normally one loop pass. */
    private static final Duration RELEASE_WAIT = Duration.ofSeconds(5);

    private final ZtunnelMetrics metrics;
    private final EventLoopGroup group;
    private final @Nullable InetAddress address;
    private final int port;
    private final Duration headerReadTimeout;
    private final Duration idleTimeout;
    private final Class<? extends ServerChannel> channelType;
    private final ChannelGroup connections =
            new DefaultChannelGroup("metrics-connections", GlobalEventExecutor.INSTANCE);

    private final Binder binder;
    private volatile @Nullable Channel serverChannel;
    private final AtomicBoolean closed = new AtomicBoolean();

    private MetricsServer(Builder b) {
        this.metrics = b.metrics;
        this.group = b.group;
        this.address = b.address;
        this.port = b.port;
        this.headerReadTimeout = b.headerReadTimeout;
        this.idleTimeout = b.idleTimeout;
        this.channelType = b.channelType != null ? b.channelType : serverChannelFor(b.group);
        this.binder = b.binder;
    }

    /**
     * Starts configuring a server for {@code metrics} on {@code controlGroup} (the daemon's control
     * event loop group; see the class comment).
     */
    public static Builder builder(ZtunnelMetrics metrics, EventLoopGroup controlGroup) {
        return new Builder(metrics, controlGroup);
    }

    /**
     * Binds and starts serving; blocks until the socket is bound.
     *
     * <p>Without a configured address it binds the IPv6 wildcard {@code [::]} (which also accepts
     * IPv4 on a dual-stack host) and falls back to {@code 0.0.0.0} when that fails, e.g. on a node
     * with IPv6 disabled.
     *
     * @return the bound address (with the actual port when configured with port 0)
     * @throws Exception if binding failed (on both addresses, when falling back)
     */
    public InetSocketAddress start() throws Exception {
        if (serverChannel != null) {
            throw new IllegalStateException("already started");
        }
        ServerBootstrap bootstrap = new ServerBootstrap().group(group);
        if (channelType == NioServerSocketChannel.class) {
            // close() must see the JDK channel to know when the port is actually released.
            bootstrap.channelFactory((ChannelFactory<ServerChannel>) NioListener::new);
        } else {
            bootstrap.channel(channelType);
        }
        bootstrap
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new MetricsServerInitializer(
                        metrics, connections, headerReadTimeout.toNanos(), idleTimeout.toNanos()));
        Channel ch;
        if (address != null) {
            ch = binder.bind(bootstrap, new InetSocketAddress(address, port));
        } else {
            ch = bindWildcard(bootstrap);
        }
        serverChannel = ch;
        InetSocketAddress bound = (InetSocketAddress) ch.localAddress();
        log.atInfo()
                .addKeyValue("address", bound)
                .addKeyValue("transport", channelType.getSimpleName())
                .log("metrics server listening");
        return bound;
    }

    private Channel bindWildcard(ServerBootstrap bootstrap) throws Exception {
        try {
            return binder.bind(bootstrap, new InetSocketAddress(anyAddress("::"), port));
        } catch (Exception ipv6Failure) {
            log.atInfo()
                    .addKeyValue("port", port)
                    .addKeyValue("error", ErrorText.of(ipv6Failure))
                    .log("cannot bind [::] for metrics, falling back to 0.0.0.0");
            try {
                return binder.bind(bootstrap, new InetSocketAddress(anyAddress("0.0.0.0"), port));
            } catch (Exception ipv4Failure) {
                ipv4Failure.addSuppressed(ipv6Failure);
                throw ipv4Failure;
            }
        }
    }

    private static InetAddress anyAddress(String literal) {
        try {
            return InetAddress.getByName(literal); // a literal: no lookup happens
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Binds {@code bootstrap} to an address, blocking until done. */
    @FunctionalInterface
    interface Binder {
        Channel bind(ServerBootstrap bootstrap, InetSocketAddress at) throws Exception;
    }

    private static Channel bindNow(ServerBootstrap bootstrap, InetSocketAddress at) throws Exception {
        ChannelFuture f = bootstrap.bind(at).await();
        if (!f.isSuccess()) {
            Throwable cause = f.cause();
            if (cause instanceof Exception e) {
                throw e;
            }
            throw new IllegalStateException("bind " + at + " failed", cause);
        }
        return f.channel();
    }

    /** The bound address, or {@code null} before {@link #start}. */
    public @Nullable InetSocketAddress localAddress() {
        Channel ch = serverChannel;
        return ch == null ? null : (InetSocketAddress) ch.localAddress();
    }

    /**
     * Stops listening and closes every accepted connection; blocks until done. The port is free when this returns: a
     * new connection to it is refused and another server can bind it, on epoll and on NIO alike.
     */
    @Override
    public void close() {
        Channel ch = serverChannel;
        if (ch == null || closed.getAndSet(true)) {
            return;
        }
        ch.close().awaitUninterruptibly();
        if (ch instanceof NioListener nio) {
            awaitReleased(nio);
        }
        connections.close().awaitUninterruptibly();
        log.atInfo().addKeyValue("address", ch.localAddress()).log("metrics server stopped");
    }

    /**
     * Waits until the JDK has released a closed NIO listener's socket. The JDK defers closing a channel that is still
     * registered with a selector until that selector's next pass drops the cancelled key, so after Netty's close the
     * port keeps accepting connections for a moment. Each task run on the channel's event loop lets the loop go round
     * (and so select) again; once the JDK channel is no longer registered, the selector pass that dropped the key has
     * also closed the socket, and a last task on the loop makes sure that pass has finished.
     */
    private static void awaitReleased(NioListener ch) {
        long deadline = System.nanoTime() + RELEASE_WAIT.toNanos();
        boolean registered;
        try {
            do {
                ch.eventLoop().submit(() -> {}).awaitUninterruptibly();
                registered = ch.registeredWithSelector();
            } while (registered && System.nanoTime() < deadline);
            ch.eventLoop().submit(() -> {}).awaitUninterruptibly();
        } catch (RejectedExecutionException loopGone) {
            return; // the group is shutting down or gone: no loop is left to wait on (its selector releases the port)
        }
        if (registered) {
            log.atWarn()
                    .addKeyValue("waited", RELEASE_WAIT)
                    .log("metrics listener still registered with its selector after close; the port may stay bound");
        }
    }

    /**
     * The NIO listener, with a view of its JDK channel's selector registration for {@link #awaitReleased}. Threading
     * as its parent's.
     */
    static final class NioListener extends NioServerSocketChannel {
        boolean registeredWithSelector() {
            return javaChannel().isRegistered();
        }
    }

    static Class<? extends ServerChannel> serverChannelFor(EventLoopGroup group) {
        if (group instanceof IoEventLoopGroup io) {
            if (io.isIoType(EpollIoHandler.class)) {
                return EpollServerSocketChannel.class;
            }
            if (io.isIoType(NioIoHandler.class)) {
                return NioServerSocketChannel.class;
            }
        }
        throw new IllegalArgumentException(
                "group: " + group + " (expected: an epoll or NIO IoEventLoopGroup, or set serverChannel(...))");
    }

    /** Configures a {@link MetricsServer}. Not thread-safe. */
    public static final class Builder {
        private final ZtunnelMetrics metrics;
        private final EventLoopGroup group;
        private @Nullable InetAddress address;
        private int port = DEFAULT_PORT;
        private Duration headerReadTimeout = Duration.ofSeconds(2);
        private Duration idleTimeout = Duration.ofMinutes(5);
        private @Nullable Class<? extends ServerChannel> channelType;
        private Binder binder = MetricsServer::bindNow;

        private Builder(ZtunnelMetrics metrics, EventLoopGroup group) {
            this.metrics = Objects.requireNonNull(metrics, "metrics");
            this.group = Objects.requireNonNull(group, "group");
        }

        /** The address to bind; default the wildcard {@code [::]} with fallback to {@code 0.0.0.0}. */
        public Builder address(@Nullable InetAddress address) {
            this.address = address;
            return this;
        }

        /** The port; default 15020, 0 for an ephemeral port. */
        public Builder port(int port) {
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("port: " + port + " (expected: 0-65535)");
            }
            this.port = port;
            return this;
        }

        /** Time a client has from the first byte of a request to its complete head; default 2 s. */
        public Builder headerReadTimeout(Duration timeout) {
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("headerReadTimeout: " + timeout + " (expected: > 0)");
            }
            this.headerReadTimeout = timeout;
            return this;
        }

        /** Time an idle kept-alive connection is kept; default 5 min; zero keeps it forever. */
        public Builder idleTimeout(Duration timeout) {
            if (timeout.isNegative()) {
                throw new IllegalArgumentException("idleTimeout: " + timeout + " (expected: >= 0)");
            }
            this.idleTimeout = timeout;
            return this;
        }

        /** The server channel type, when it cannot be told from the group (default: detected). */
        public Builder serverChannel(Class<? extends ServerChannel> type) {
            this.channelType = Objects.requireNonNull(type, "type");
            return this;
        }

        /** Replaces the bind step; lets tests simulate a host without IPv6. */
        Builder binder(Binder binder) {
            this.binder = Objects.requireNonNull(binder, "binder");
            return this;
        }

        public MetricsServer build() {
            return new MetricsServer(this);
        }
    }
}
