package io.ztunnel.core.hbone;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.concurrent.Future;
import io.ztunnel.core.config.HboneSettings;
import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.identity.LocalCa;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.TlsMaterial;
import io.ztunnel.core.identity.TlsSettings;
import io.ztunnel.core.net.ChannelConnector;
import io.ztunnel.core.net.ConnectionObserver;
import io.ztunnel.core.net.EpollSockets;
import io.ztunnel.core.net.HboneAddress;
import io.ztunnel.core.net.PendingInput;
import io.ztunnel.core.net.Relay;
import io.ztunnel.core.net.SocketSettings;
import io.ztunnel.core.net.Transport;
import io.ztunnel.core.util.Drain;
import io.ztunnel.core.util.Scheduler;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * An in-process HBONE path on loopback for tests: an outbound forwarder (plain TCP in → {@link HbonePool}), an
 * {@link HboneServer} (15008 role) routing every CONNECT to the IP authority as given, and helpers to build
 * certificates from a local CA. Close it to release everything.
 */
final class HboneTestBed implements AutoCloseable {
    static final SpiffeId CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/client/sa/client");
    static final SpiffeId SERVER = SpiffeId.parse("spiffe://cluster.local/ns/server/sa/server");

    final Transport transport = Transport.best();
    final EventLoopGroup group;
    final ScheduledExecutorService control = Executors.newSingleThreadScheduledExecutor();
    final LocalCa ca;
    final CertificateManager certs;
    final HboneSettings settings;
    final AtomicInteger routed = new AtomicInteger();
    final ConcurrentLinkedQueue<InboundRequest> requests = new ConcurrentLinkedQueue<>();
    final ConcurrentLinkedQueue<Throwable> outboundFailures = new ConcurrentLinkedQueue<>();
    /** Errors relays (outbound forwarder and inbound server alike) ended with; normal ends are not recorded. */
    final ConcurrentLinkedQueue<Throwable> relayErrors = new ConcurrentLinkedQueue<>();

    private final ConnectionObserver relayObserver = new ConnectionObserver() {
        @Override
        public void closed(@Nullable Throwable error) {
            if (error != null) {
                relayErrors.add(error);
            }
        }
    };
    /** What the server does with each valid CONNECT; by default it connects to the IP authority and relays. */
    volatile Consumer<InboundStream> decide;

    @SuppressWarnings("NullAway.Init") // set by startServer / startForwarder before use
    HboneServer server;
    /** The server's drain; closing the bed starts it. */
    final Drain drain = new Drain();

    final ConcurrentLinkedQueue<Channel> serverChildren = new ConcurrentLinkedQueue<>();

    @SuppressWarnings("NullAway.Init") // set by startServer / startForwarder before use
    Channel serverChannel;

    @SuppressWarnings("NullAway.Init") // set by startServer / startForwarder before use
    HbonePool pool;

    @SuppressWarnings("NullAway.Init") // set by startServer / startForwarder before use
    Channel forwarderChannel;

    volatile SpiffeId serverIdentity = SERVER;
    volatile List<SpiffeId> expected = List.of(SERVER);

    @SuppressWarnings("NullAway.Init") // set by startServer / startForwarder before use
    volatile InetSocketAddress target;

    HboneTestBed(Path caDir, HboneSettings settings, Duration ttl, int threads) {
        this.group = transport.newGroup(threads, "test-dp");
        this.settings = settings;
        this.ca = LocalCa.loadOrCreate(caDir, Clock.systemUTC());
        this.certs = new CertificateManager(
                ca,
                ttl,
                TlsSettings.DEFAULT,
                Scheduler.of(control, Clock.systemUTC()),
                CertificateManager.DEFAULT_MAX_IN_FLIGHT);
        ChannelConnector connector = ChannelConnector.plain(transport);
        this.decide = stream -> {
            if (!(stream.request().target() instanceof HboneAddress.Ip ip)) {
                stream.reject(HttpResponseStatus.SERVICE_UNAVAILABLE, "hostname");
                return;
            }
            connector.connect(stream.eventLoop(), ip.address(), null, null).addListener((ChannelFutureListener) f -> {
                if (!f.isSuccess()) {
                    stream.reject(HttpResponseStatus.SERVICE_UNAVAILABLE, "upstream connect failed");
                } else if (!stream.isActive()) {
                    f.channel().close();
                } else {
                    Baggage baggage =
                            new Baggage("Kubernetes", "server", "deployment", "server", "server", "v1", "", "");
                    Relay.start(stream.accept(baggage), f.channel(), relayObserver);
                }
            });
        };
    }

    HboneTestBed(Path caDir) {
        this(caDir, HboneSettings.DEFAULT, Duration.ofHours(1), 2);
    }

    /** Starts the inbound server, with certificates of {@code serverIdentity} (or another manager's). */
    InetSocketAddress startServer(CertificateManager serverCerts) throws InterruptedException {
        server = new HboneServer(
                settings,
                local -> serverCerts.fetch(serverIdentity),
                stream -> {
                    routed.incrementAndGet();
                    requests.add(stream.request());
                    decide.accept(stream);
                },
                drain,
                Duration.ofSeconds(5));
        ServerBootstrap bootstrap = new ServerBootstrap().group(group).channel(transport.serverChannel());
        SocketSettings.listener(bootstrap, transport, null, false); // the daemon's 15008 options
        serverChannel = bootstrap
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        serverChildren.add(ch);
                        ch.pipeline().addLast(server.initializer());
                    }
                })
                .bind(new InetSocketAddress("127.0.0.1", 0))
                .sync()
                .channel();
        return (InetSocketAddress) serverChannel.localAddress();
    }

    InetSocketAddress startServer() throws InterruptedException {
        return startServer(certs);
    }

    /** Starts the outbound forwarder: each accepted socket is tunnelled to {@link #target} through {@code hbone}. */
    InetSocketAddress startForwarder(InetSocketAddress hbone, CertificateManager clientCerts)
            throws InterruptedException {
        return startForwarder(hbone, clientCerts::fetch);
    }

    /** As above, with the client's TLS material chosen by {@code clientTls} (e.g. a foreign identity). */
    InetSocketAddress startForwarder(
            InetSocketAddress hbone, Function<SpiffeId, CompletionStage<TlsMaterial>> clientTls)
            throws InterruptedException {
        pool = new HbonePool(settings, ChannelConnector.plain(transport), clientTls);
        forwarderChannel = new ServerBootstrap()
                .group(group)
                .channel(transport.serverChannel())
                .childOption(ChannelOption.AUTO_READ, false)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, SocketSettings.WATER_MARK)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel downstream) {
                        EpollSockets.keepRegistered(downstream);
                        downstream.pipeline().addLast(new PendingInput());
                        downstream.pipeline().addFirst(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelActive(ChannelHandlerContext ctx) {
                                HboneRequest request = new HboneRequest(
                                        new PoolKey(
                                                CLIENT,
                                                expected,
                                                hbone,
                                                ((InetSocketAddress) downstream.remoteAddress()).getAddress()),
                                        HboneAddress.of(target).authority(),
                                        (InetSocketAddress) downstream.remoteAddress(),
                                        "echo.server.svc.cluster.local",
                                        new Baggage(
                                                "Kubernetes",
                                                "client",
                                                "deployment",
                                                "client",
                                                "client",
                                                "v1",
                                                "",
                                                ""));
                                pool.connect(downstream, request).addListener((Future<Http2StreamChannel> f) -> {
                                    if (f.isSuccess()) {
                                        Relay.start(downstream, f.getNow(), relayObserver);
                                    } else {
                                        outboundFailures.add(f.cause());
                                        downstream.close();
                                    }
                                });
                                ctx.pipeline().remove(this);
                            }
                        });
                    }
                })
                .bind(new InetSocketAddress("127.0.0.1", 0))
                .sync()
                .channel();
        return (InetSocketAddress) forwarderChannel.localAddress();
    }

    InetSocketAddress startForwarder(InetSocketAddress hbone) throws InterruptedException {
        return startForwarder(hbone, certs);
    }

    /** Makes every accepted HBONE connection stop reading (a peer that went silent). */
    void freezeServerConnections() {
        serverChildren.forEach(ch -> ch.eventLoop().execute(() -> ch.config().setAutoRead(false)));
    }

    @Override
    public void close() throws Exception {
        if (forwarderChannel != null) {
            forwarderChannel.close().sync();
        }
        if (serverChannel != null) {
            serverChannel.close().sync();
        }
        if (pool != null) {
            pool.close();
        }
        if (server != null) {
            drain.start();
        }
        Transport.shutdown(group);
        certs.close();
        control.shutdownNow();
        control.awaitTermination(5, TimeUnit.SECONDS);
    }
}
