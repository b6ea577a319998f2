package io.ztunnel.core.hbone;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ImmediateEventExecutor;
import io.netty.util.concurrent.Promise;
import io.ztunnel.core.config.HboneSettings;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.TlsMaterial;
import io.ztunnel.core.net.SocketSettings;
import io.ztunnel.core.util.Errors;
import java.util.Objects;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import javax.net.ssl.SSLSession;

/**
 * The inner half of a double-HBONE tunnel: given the outer CONNECT stream to a network gateway (from the pool, its
 * bytes already unwrapped by a {@link StreamByteAdapter}), runs a new mutual-TLS session and a new, unpooled HTTP/2
 * client connection over that stream's bytes and sends the inner CONNECT on it. The outer stream channel is the inner
 * connection's transport: its pipeline becomes {@code hbone-bytes → tls → h2 … h2-tail} (the HTTP/2 part built by
 * {@link Http2Pipeline#client}, as for any pooled connection), and the inner stream is a child of it.
 *
 * <p>One inner connection per downstream connection, carrying one stream: when the inner stream closes the outer
 * stream is closed with it, and when the gateway ends the outer stream the inner connection is over. The client
 * certificate is the source's; the far end must present one of the inner key's identities; CRLs apply as on pooled
 * connections (a revoked far end closes the outer stream and the inner stream ends with {@code CERT_REVOKED}).
 *
 * <p>Threading: everything runs on the outer stream's event loop, which is also the inner stream's and, once the pool
 * has moved it, the downstream's. Ownership: the handlers installed release what they consume; bytes pass through
 * the outer stream's adapter.
 */
public final class InnerHboneConnector {
    private final HboneSettings settings;
    private final Function<SpiffeId, CompletionStage<TlsMaterial>> tls;

    /** @param tls the TLS material of a source identity */
    public InnerHboneConnector(HboneSettings settings, Function<SpiffeId, CompletionStage<TlsMaterial>> tls) {
        this.settings = settings;
        this.tls = tls;
    }

    /** The inner stream, ready for the relay, with what the far end told about itself. */
    public record Tunnel(Http2StreamChannel stream, SpiffeId peerIdentity, Baggage responseBaggage) {}

    /**
     * Opens the inner connection over {@code outer} (reads off, as the pool hands it out) and sends {@code request}
     * on it. The future succeeds on the outer stream's loop once the far end answered 200 (the inner stream has reads
     * off and a {@link StreamByteAdapter}); on failure the outer stream is closed. May be called from any thread.
     */
    public Future<Tunnel> connect(Http2StreamChannel outer, HboneRequest request) {
        Promise<Tunnel> result = ImmediateEventExecutor.INSTANCE.newPromise();
        result.addListener(f -> {
            if (!f.isSuccess()) {
                outer.close();
            }
        });
        outer.closeFuture()
                .addListener(f -> result.tryFailure(new HboneException(
                        HboneException.Kind.CONNECT,
                        "the gateway's stream closed before the inner CONNECT completed",
                        null)));
        tls.apply(request.key().source())
                .whenComplete((material, error) -> outer.eventLoop().execute(() -> {
                    if (error != null) {
                        result.tryFailure(new HboneException(
                                HboneException.Kind.NO_CERTIFICATE,
                                "no certificate for " + request.key().source() + ": " + Errors.message(error),
                                error));
                        return;
                    }
                    handshake(outer, Objects.requireNonNull(material), request, result);
                }));
        return result;
    }

    private void handshake(
            Http2StreamChannel outer, TlsMaterial material, HboneRequest request, Promise<Tunnel> result) {
        if (result.isDone() || !outer.isActive()) {
            result.tryFailure(new HboneException(
                    HboneException.Kind.CONNECT, "the gateway's stream closed before the inner TLS handshake", null));
            return;
        }
        outer.pipeline().addLast("outer-end", new OuterEndHandler());
        outer.pipeline().addLast("tls", material.newClientHandler(outer.alloc()));
        outer.pipeline()
                .addLast(
                        "hbone-handshake",
                        new ClientHandshakeHandler(request.key(), material, new ClientHandshakeHandler.Outcome() {
                            @Override
                            public void succeeded(SSLSession session) {
                                PeerRevocation.track(outer, material, session, false);
                                SpiffeId peer = ClientHandshakeHandler.matchedIdentity(request.key(), session);
                                established(outer, request, Objects.requireNonNull(peer), result);
                            }

                            @Override
                            public void failed(HboneException failure) {
                                result.tryFailure(failure);
                            }
                        }));
        outer.config().setAutoRead(true);
    }

    private void established(Http2StreamChannel outer, HboneRequest request, SpiffeId peer, Promise<Tunnel> result) {
        Http2Pipeline.client(outer.pipeline(), settings, new Http2Pipeline.Tail());
        Promise<Http2StreamChannel> stream = ImmediateEventExecutor.INSTANCE.newPromise();
        stream.addListener((Future<Http2StreamChannel> f) -> {
            if (!f.isSuccess()) {
                result.tryFailure(f.cause());
                return;
            }
            Http2StreamChannel inner = f.getNow();
            inner.closeFuture().addListener(c -> outer.close());
            CharSequence baggage = ConnectResponseHandler.responseBaggage(inner);
            if (!result.trySuccess(new Tunnel(inner, peer, baggage == null ? Baggage.EMPTY : Baggage.parse(baggage)))) {
                inner.close();
            }
        });
        new Http2StreamChannelBootstrap(outer)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, SocketSettings.WATER_MARK)
                .handler(new ConnectResponseHandler(stream, null, outer.eventLoop()))
                .open()
                .addListener((Future<Http2StreamChannel> f) -> {
                    if (!f.isSuccess()) {
                        stream.tryFailure(new HboneException(
                                HboneException.Kind.H2_HANDSHAKE_FAILURE,
                                "cannot open the inner HBONE stream: " + Errors.message(f.cause()),
                                f.cause()));
                        return;
                    }
                    ConnectResponseHandler.send(f.getNow(), request, stream);
                });
    }

    /**
     * Sits between the outer stream's byte adapter and the inner TLS: the gateway ending the outer stream ends the
     * inner connection, which has no other way to learn of it. Threading: the outer stream's loop; holds nothing.
     */
    private static final class OuterEndHandler extends ChannelInboundHandlerAdapter {
        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt == ChannelInputShutdownEvent.INSTANCE) {
                ctx.close();
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }
    }
}
