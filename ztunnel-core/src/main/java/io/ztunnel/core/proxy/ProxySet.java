package io.ztunnel.core.proxy;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.epoll.EpollChannelOption;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.Config.LocalWorkloadInfo;
import io.ztunnel.core.hbone.HbonePool;
import io.ztunnel.core.hbone.HboneServer;
import io.ztunnel.core.identity.TlsMaterial;
import io.ztunnel.core.net.Addresses;
import io.ztunnel.core.net.EpollSockets;
import io.ztunnel.core.net.PendingInput;
import io.ztunnel.core.net.SocketSettings;
import io.ztunnel.core.net.Sockets;
import io.ztunnel.core.util.Errors;
import io.ztunnel.core.util.LogSpan;
import io.ztunnel.core.util.Subscription;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The listeners and pool serving one local workload: 15001 (outbound capture), 15006 (inbound plaintext), 15008
 * (inbound HBONE) and, when enabled, 15080 (SOCKS5 on loopback). In dedicated mode there is one, in the daemon's own
 * network namespace; in in-pod mode one per enrolled pod, inside the pod's namespace.
 *
 * <p>Lifecycle: the proxy set owns its {@link LocalWorkload} (and with it a state subscription), its pool and its HBONE
 * server. {@link #start()} binds everything (failing as a whole, with the port that could not be bound); when the
 * daemon's drain starts it stops accepting and its HBONE server sends GOAWAY; {@link #close()}, which its creator
 * calls when the proxy goes away (also after a failed start), releases all of it. Thread-safe.
 */
public final class ProxySet implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ProxySet.class);

    private final ProxyContext ctx;
    private final LocalWorkload local;
    private final Sockets sockets;
    private final InetAddress bindAddress;
    private final HbonePool pool;
    private final Outbound outbound;
    private final List<Channel> listeners = new CopyOnWriteArrayList<>();
    private volatile @Nullable HboneServer hboneServer;
    private volatile Subscription drainSubscription = Subscription.NONE;
    private volatile boolean transparent;

    /**
     * @param info the workload this proxy acts for
     * @param sockets where its sockets live (the daemon's network namespace, or a pod's)
     */
    public ProxySet(ProxyContext ctx, LocalWorkloadInfo info, Sockets sockets, InetAddress bindAddress) {
        this(ctx, info, sockets, bindAddress, false);
    }

    /**
     * @param inPod whether it serves an enrolled pod (in-pod mode), whose log lines carry the span
     *     {@code proxy{wl=ns/name}}
     */
    public ProxySet(ProxyContext ctx, LocalWorkloadInfo info, Sockets sockets, InetAddress bindAddress, boolean inPod) {
        this.ctx = ctx;
        this.local = new LocalWorkload(info, ctx.config().nodeName(), ctx.state(), ctx.timer(), inPod);
        this.sockets = sockets;
        this.bindAddress = bindAddress;
        this.pool = new HbonePool(ctx.config().hbone(), sockets.connector(), ctx.certificates()::fetch);
        this.outbound = new Outbound(ctx, local, sockets, pool);
    }

    public LocalWorkload local() {
        return local;
    }

    /** Binds every listener; completes exceptionally (with everything unbound again) if one cannot be bound. */
    public CompletableFuture<Void> start() {
        Config cfg = ctx.config();
        try {
            Channel outboundListener = listen(cfg.ports().outbound(), bindAddress, true, Direction.OUTBOUND, ch -> {
                ch.pipeline().addLast("pending", new PendingInput());
                outbound.proxy(ch, originalDestination(ch));
            });
            transparent = transparent(outboundListener, cfg.enableOriginalSource());
            Inbound inbound = new Inbound(ctx, local, sockets, transparent);
            HboneServer server = new HboneServer(
                    cfg.hbone(), this::serverTls, inbound::hbone, ctx.drain(), cfg.terminationDeadline());
            hboneServer = server;
            listen(
                    cfg.ports().inboundHbone(),
                    bindAddress,
                    false,
                    Direction.INBOUND,
                    ch -> ch.pipeline().addLast(server.initializer()));
            listen(cfg.ports().inboundPlaintext(), bindAddress, true, Direction.INBOUND, ch -> {
                ch.pipeline().addLast("pending", new PendingInput());
                inbound.plaintext(ch, originalDestination(ch));
            });
            if (cfg.socks5Enabled()) {
                InetAddress loopback = InetAddress.getLoopbackAddress();
                listen(
                        cfg.ports().socks5(),
                        loopback.isLoopbackAddress() && bindAddress.isLoopbackAddress() ? bindAddress : loopback,
                        false,
                        Direction.OUTBOUND,
                        ch -> ch.pipeline()
                                .addLast("socks5", new Socks5Handler(outbound::proxy))
                                .addLast("pending", new PendingInput()));
            }
            drainSubscription = ctx.drain().onStart("proxy " + local.info(), this::stopAccepting);
            log.atInfo()
                    .addKeyValue("workload", local.info())
                    .addKeyValue(LogSpan.KEY, local.proxySpan())
                    .addKeyValue("address", bindAddress.getHostAddress())
                    .addKeyValue("transparent", transparent)
                    .log("proxy listeners started");
            return CompletableFuture.completedFuture(null);
        } catch (RuntimeException e) {
            listeners.forEach(Channel::close);
            listeners.clear();
            return CompletableFuture.failedFuture(e);
        }
    }

    private CompletionStage<TlsMaterial> serverTls(InetSocketAddress localAddress) {
        return local.get().thenCompose(w -> ctx.certificates().fetch(w.identity()));
    }

    /** The destination a redirected client dialled, or the listener's own address when it was not redirected. */
    private InetSocketAddress originalDestination(Channel accepted) {
        return sockets.originalDestination(accepted).orElse((InetSocketAddress) accepted.localAddress());
    }

    /**
     * Binds a listener whose accepted sockets (reads off, options of {@link SocketSettings}) go to {@code onAccept} on
     * their event loop.
     *
     * @param keepalive whether accepted sockets get the configured TCP keepalive and user timeout
     * @param direction which reporter counts its accepted sockets in {@code istio_tcp_sockets_open}
     */
    private Channel listen(
            int port, InetAddress address, boolean keepalive, Direction direction, Consumer<Channel> onAccept) {
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(ctx.dataPlane())
                .channelFactory(sockets.serverChannels())
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        EpollSockets.keepRegistered(ch);
                        countOpen(ctx.telemetry(), ch, direction);
                        onAccept.accept(ch);
                    }
                });
        SocketSettings.listener(
                bootstrap,
                ctx.transport(),
                keepalive ? ctx.keepalive() : null,
                ctx.config().enableOriginalSource());
        sockets.configureListener(bootstrap);
        ChannelFuture bound =
                bootstrap.bind(new InetSocketAddress(address, port)).awaitUninterruptibly();
        if (!bound.isSuccess()) {
            throw new IllegalStateException(
                    "cannot listen on " + Addresses.format(address, port) + " for " + local.info() + ": "
                            + Errors.message(bound.cause()),
                    bound.cause());
        }
        listeners.add(bound.channel());
        return bound.channel();
    }

    /** Counts an accepted socket in {@code istio_tcp_sockets_open} until it closes. */
    static void countOpen(ConnectionTelemetry telemetry, Channel accepted, Direction direction) {
        telemetry.socketOpened(direction);
        accepted.closeFuture().addListener(closed -> telemetry.socketClosed(direction));
    }

    /** Whether the listener got IP_TRANSPARENT (then upstream connects may spoof the client's address). */
    private boolean transparent(Channel listener, @Nullable Boolean wanted) {
        if (!ctx.transport().isEpoll() || Boolean.FALSE.equals(wanted)) {
            return false;
        }
        boolean on = Boolean.TRUE.equals(listener.config().getOption(EpollChannelOption.IP_TRANSPARENT));
        if (!on && Boolean.TRUE.equals(wanted)) {
            throw new IllegalStateException(
                    "ENABLE_ORIG_SRC=true but IP_TRANSPARENT could not be set (needs CAP_NET_ADMIN)");
        }
        return on;
    }

    /** The listening addresses (for tests and logs). */
    public List<InetSocketAddress> listenAddresses() {
        List<InetSocketAddress> out = new ArrayList<>();
        for (Channel c : listeners) {
            out.add((InetSocketAddress) c.localAddress());
        }
        return out;
    }

    /** Closes the listeners (new connections are refused; accepted ones go on). */
    private void stopAccepting() {
        for (Channel c : listeners) {
            c.close();
        }
    }

    /**
     * Stops accepting, closes inbound HBONE connections gracefully and the outbound pool (ending every stream on it),
     * and stops following the state.
     */
    @Override
    public void close() {
        drainSubscription.close();
        stopAccepting();
        HboneServer server = hboneServer;
        if (server != null) {
            server.close();
        }
        pool.close();
        local.close();
    }

    public HbonePool pool() {
        return pool;
    }
}
