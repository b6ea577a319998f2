package io.ztunnel.core.hbone;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.ztunnel.core.config.HboneSettings;
import io.ztunnel.core.identity.Certificates;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.TlsMaterial;
import io.ztunnel.core.net.SocketSettings;
import io.ztunnel.core.util.Drain;
import io.ztunnel.core.util.Errors;
import io.ztunnel.core.util.Subscription;
import java.net.InetSocketAddress;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;
import java.util.function.Function;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The inbound HBONE server (port 15008): mutual TLS with the local workload's certificate, HTTP/2 with ztunnel's
 * settings, one {@link ConnectStreamHandler} per CONNECT stream (which hands valid requests to the owner as
 * {@link InboundStream}s), PING keepalive, and graceful drain.
 *
 * <p>{@link #initializer()} is installed on accepted sockets. Threading: each connection and its streams live on the
 * accepting event loop; {@link #close} may be called from any thread.
 */
public final class HboneServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HboneServer.class);

    private final HboneSettings settings;
    private final Function<InetSocketAddress, CompletionStage<TlsMaterial>> tls;
    private final Consumer<InboundStream> streams;
    private final Duration drainDeadline;
    private final ChannelGroup connections = new DefaultChannelGroup("hbone-inbound", GlobalEventExecutor.INSTANCE);
    private final Subscription drainSubscription;

    /**
     * @param tls the local workload's TLS material for the address a connection was accepted on
     * @param streams decides every well-formed CONNECT (on the stream's event loop)
     * @param drain when it starts, every connection sends GOAWAY and closes once its streams end
     * @param drainDeadline how long in-flight streams may run after GOAWAY before connections are closed
     */
    public HboneServer(
            HboneSettings settings,
            Function<InetSocketAddress, CompletionStage<TlsMaterial>> tls,
            Consumer<InboundStream> streams,
            Drain drain,
            Duration drainDeadline) {
        this.settings = settings;
        this.tls = tls;
        this.streams = streams;
        this.drainDeadline = drainDeadline;
        this.drainSubscription = drain.onStart("HBONE server", this::goAway);
    }

    public ChannelInitializer<Channel> initializer() {
        return new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.config().setAutoRead(false);
                SocketSettings.connectionLevel(ch);
                connections.add(ch);
                tls.apply((InetSocketAddress) ch.localAddress())
                        .whenComplete((material, error) -> ch.eventLoop().execute(() -> {
                            if (error != null || material == null) {
                                log.atWarn()
                                        .addKeyValue("local", ch.localAddress())
                                        .addKeyValue("peer", ch.remoteAddress())
                                        .addKeyValue(
                                                "error",
                                                error == null
                                                        ? "the certificate manager gave none"
                                                        : Errors.message(error))
                                        .log("no certificate for inbound HBONE connection; closing it");
                                ch.close();
                                return;
                            }
                            if (!ch.isActive()) {
                                return;
                            }
                            ch.pipeline().addLast("tls", material.newServerHandler(ch.alloc()));
                            ch.pipeline().addLast("hbone-handshake", new HandshakeHandler(material));
                            ch.config().setAutoRead(true);
                        }));
            }
        };
    }

    /** Number of open inbound HBONE connections. */
    public int connectionCount() {
        return connections.size();
    }

    /**
     * Closes every connection gracefully: each sends GOAWAY and is closed once its streams end, or at the drain
     * deadline. Runs when the drain starts, and when the server's proxy goes away.
     */
    private void goAway() {
        connections.close();
    }

    /** Withdraws from the drain and closes every connection gracefully (the proxy is going away). */
    @Override
    public void close() {
        drainSubscription.close();
        goAway();
    }

    /** Completes the handshake: policy checks, then installs HTTP/2. */
    private final class HandshakeHandler extends ChannelInboundHandlerAdapter {
        private final TlsMaterial material;

        HandshakeHandler(TlsMaterial material) {
            this.material = material;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (!(evt instanceof SslHandshakeCompletionEvent done)) {
                ctx.fireUserEventTriggered(evt);
                return;
            }
            if (!done.isSuccess()) {
                boolean revoked = PeerRevocation.isRevoked(done.cause());
                (revoked ? log.atWarn() : log.atInfo())
                        .addKeyValue("peer", ctx.channel().remoteAddress())
                        .addKeyValue("local", ctx.channel().localAddress())
                        .addKeyValue("error", Errors.message(done.cause()))
                        .log(
                                revoked
                                        ? "inbound TLS connection refused: peer certificate revoked by CRL"
                                        : "inbound TLS handshake failed");
                ctx.close();
                return;
            }
            SSLSession session = ctx.pipeline().get(SslHandler.class).engine().getSession();
            String violation = material.settings().violation(session.getProtocol(), session.getCipherSuite());
            SpiffeId peer = session.getPeerCertificates().length == 0
                    ? null
                    : Certificates.firstSpiffeId((X509Certificate) session.getPeerCertificates()[0]);
            if (violation != null || peer == null) {
                log.atInfo()
                        .addKeyValue("peer", ctx.channel().remoteAddress())
                        .addKeyValue("error", violation != null ? violation : "client has no SPIFFE identity")
                        .log("inbound TLS connection refused");
                ctx.close();
                return;
            }
            PeerRevocation.track(ctx.channel(), material, session, true);
            Http2Pipeline.server(ctx.pipeline(), settings, drainDeadline, new ChannelInitializer<Http2StreamChannel>() {
                @Override
                protected void initChannel(Http2StreamChannel stream) {
                    stream.config().setWriteBufferWaterMark(SocketSettings.WATER_MARK);
                    stream.pipeline().addLast("hbone-connect", new ConnectStreamHandler(streams, peer));
                }
            });
            ctx.pipeline().remove(this);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // Handshake failures are reported by the completion event above; this is the same failure again.
            log.atDebug()
                    .addKeyValue("peer", ctx.channel().remoteAddress())
                    .addKeyValue("error", Errors.message(cause))
                    .log("inbound TLS error");
            ctx.close();
        }
    }
}
