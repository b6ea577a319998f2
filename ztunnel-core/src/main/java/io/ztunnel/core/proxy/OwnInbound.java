package io.ztunnel.core.proxy;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInitializer;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.Config.LocalWorkloadInfo;
import io.ztunnel.core.hbone.HboneServer;
import io.ztunnel.core.identity.TlsMaterial;
import io.ztunnel.core.net.Addresses;
import io.ztunnel.core.net.EpollSockets;
import io.ztunnel.core.net.SocketSettings;
import io.ztunnel.core.net.Sockets;
import io.ztunnel.core.util.Errors;
import io.ztunnel.core.util.LogValues;
import io.ztunnel.core.util.Subscription;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ztunnel's own inbound in shared mode: an HBONE listener (15008) in the daemon's own network namespace that serves
 * ztunnel's pod as a destination, so that meshed clients reach its metrics (15020) and readiness (15021) over HBONE.
 * It presents ztunnel's own identity (the trust domain of ztunnel's workload record, found by {@code POD_NAME},
 * {@code POD_NAMESPACE}, {@code SERVICE_ACCOUNT} on {@code NODE_NAME}; each handshake waits up to 5 s for the record and
 * fails without it), applies the usual authorization and telemetry, and connects to the pod's own address and the
 * authority's port, never from the client's address. The admin port listens on loopback only, so a CONNECT to it is
 * refused (503).
 *
 * <p>Lifecycle: {@link #start()} binds (asynchronously; the daemon calls it after the first state sync), the drain
 * stops accepting and sends GOAWAY, {@link #close()} releases the listener, the server and the workload lookup.
 * Thread-safe.
 */
public final class OwnInbound implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(OwnInbound.class);

    private final ProxyContext ctx;
    private final LocalWorkload self;
    private final InetSocketAddress bind;
    private final HboneServer server;
    private volatile @Nullable Channel listener;
    private volatile Subscription drainSubscription = Subscription.NONE;
    private volatile boolean closed;

    /** Whether the configuration asks for it: shared mode with ztunnel's pod name, namespace and service account. */
    public static boolean wanted(Config config) {
        return config.proxyMode() == Config.ProxyMode.SHARED
                && config.upstream().proxyEnabled()
                && !config.podName().isEmpty()
                && !config.podNamespace().isEmpty()
                && !config.serviceAccount().isEmpty();
    }

    /**
     * @param bindAddress {@code [::]}, or {@code 0.0.0.0} when IPv6 is off
     */
    public OwnInbound(ProxyContext ctx, InetAddress bindAddress) {
        this.ctx = ctx;
        Config cfg = ctx.config();
        LocalWorkloadInfo info = new LocalWorkloadInfo(cfg.podNamespace(), cfg.podName(), cfg.serviceAccount());
        this.self = new LocalWorkload(info, cfg.nodeName(), ctx.state(), ctx.timer());
        this.bind = new InetSocketAddress(bindAddress, cfg.ports().inboundHbone());
        // Never spoofs: the upstream is ztunnel's own pod, reached from its own address.
        Inbound inbound = new Inbound(ctx, self, Sockets.host(ctx.transport(), ctx.keepalive()), false);
        this.server =
                new HboneServer(cfg.hbone(), this::serverTls, inbound::hbone, ctx.drain(), cfg.terminationDeadline());
    }

    private CompletionStage<TlsMaterial> serverTls(InetSocketAddress localAddress) {
        return self.get().thenCompose(w -> ctx.certificates().fetch(w.identity()));
    }

    /** Binds the listener; completes with its address, or exceptionally when it cannot be bound. */
    public CompletableFuture<InetSocketAddress> start() {
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(ctx.dataPlane())
                .channelFactory(ctx.transport().serverSocketFactory())
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        EpollSockets.keepRegistered(ch);
                        ProxySet.countOpen(ctx.telemetry(), ch, Direction.INBOUND);
                        ch.pipeline().addLast(server.initializer());
                    }
                });
        SocketSettings.listener(bootstrap, ctx.transport(), null, ctx.config().enableOriginalSource());
        CompletableFuture<InetSocketAddress> result = new CompletableFuture<>();
        bootstrap.bind(bind).addListener((ChannelFutureListener) (ChannelFuture f) -> {
            if (!f.isSuccess()) {
                result.completeExceptionally(new IllegalStateException(
                        "cannot listen on " + Addresses.format(bind) + " for ztunnel's own inbound: "
                                + Errors.message(f.cause()),
                        f.cause()));
                return;
            }
            listener = f.channel();
            if (closed) {
                f.channel().close();
                result.completeExceptionally(new IllegalStateException("closed while starting"));
                return;
            }
            drainSubscription = ctx.drain().onStart("ztunnel's own inbound", f.channel()::close);
            InetSocketAddress address = (InetSocketAddress) f.channel().localAddress();
            log.atInfo()
                    .addKeyValue("workload", self.info())
                    .addKeyValue("address", LogValues.address(address))
                    .log("ztunnel's own inbound started");
            result.complete(address);
        });
        return result;
    }

    @Override
    public void close() {
        closed = true;
        drainSubscription.close();
        Channel l = listener;
        if (l != null) {
            l.close();
        }
        server.close();
        self.close();
    }
}
