package io.ztunnel.core.hbone;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.net.ChannelConnector;
import io.ztunnel.core.net.HboneAddress;
import io.ztunnel.core.net.Relay;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.concurrent.CompletionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves one inbound HBONE stream: validates the CONNECT (400 for another method or an unparsable authority), asks the
 * {@link InboundRouter} what to do (400/401/503 rejections), connects to the upstream app (503 when that fails or
 * times out), answers 200 only then, and hands both channels to the {@link Relay}.
 *
 * <p>Threading: the stream channel's event loop (the parent connection's loop); the upstream connection is made on
 * the same loop. Ownership: DATA that arrives before the relay starts is queued here and either handed to the upstream
 * or released when the stream fails; frames of no interest are released at once.
 */
final class ConnectStreamHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(ConnectStreamHandler.class);

    private enum State {
        AWAITING_HEADERS,
        ROUTING,
        CONNECTING,
        DONE
    }

    private final InboundRouter router;
    private final SpiffeId peerIdentity;
    private State state = State.AWAITING_HEADERS;
    private final ArrayDeque<ByteBuf> early = new ArrayDeque<>();
    private boolean earlyEndStream;
    private Channel upstream;

    ConnectStreamHandler(InboundRouter router, SpiffeId peerIdentity) {
        this.router = router;
        this.peerIdentity = peerIdentity;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (msg instanceof Http2HeadersFrame headers && state == State.AWAITING_HEADERS) {
                onRequest(ctx, headers.headers());
            } else if (msg instanceof Http2DataFrame data && (state == State.ROUTING || state == State.CONNECTING)) {
                if (data.content().isReadable()) {
                    early.add(data.content().retain());
                }
                earlyEndStream |= data.isEndStream();
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void onRequest(ChannelHandlerContext ctx, Http2Headers headers) {
        state = State.ROUTING;
        if (!HttpMethod.CONNECT.asciiName().contentEquals(headers.method())) {
            reject(ctx, HttpResponseStatus.BAD_REQUEST, "method " + headers.method() + " is not CONNECT");
            return;
        }
        HboneAddress target;
        try {
            target = HboneAddress.parse(headers.authority());
        } catch (IllegalArgumentException e) {
            reject(ctx, HttpResponseStatus.BAD_REQUEST, e.getMessage());
            return;
        }
        Channel parent = ((Http2StreamChannel) ctx.channel()).parent();
        InboundRequest request = new InboundRequest(
                peerIdentity,
                (InetSocketAddress) parent.remoteAddress(),
                (InetSocketAddress) parent.localAddress(),
                target,
                headers);
        ctx.channel().config().setAutoRead(false);
        router.route(request)
                .whenComplete((decision, error) -> ctx.executor().execute(() -> {
                    if (error != null) {
                        log.atWarn()
                                .addKeyValue("target", target)
                                .setCause(error)
                                .log("inbound routing failed");
                        reject(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, String.valueOf(error));
                    } else if (decision instanceof InboundDecision.Reject r) {
                        reject(ctx, r.status(), r.reason());
                    } else if (decision instanceof InboundDecision.Connect c) {
                        connect(ctx, request, c);
                    }
                }));
    }

    private void connect(ChannelHandlerContext ctx, InboundRequest request, InboundDecision.Connect decision) {
        if (!ctx.channel().isActive()) {
            discardEarly();
            decision.observer().closed(new IllegalStateException("stream closed before upstream connect"));
            return;
        }
        state = State.CONNECTING;
        ChannelConnector connector = decision.connector();
        ChannelFuture connect =
                connector.connect(ctx.channel().eventLoop(), decision.upstream(), decision.spoofSource(), null);
        upstream = connect.channel();
        connect.addListener((ChannelFutureListener) f -> {
            if (!f.isSuccess()) {
                log.atDebug()
                        .addKeyValue("upstream", decision.upstream())
                        .addKeyValue("error", f.cause().toString())
                        .log("inbound upstream connect failed");
                decision.observer().closed(f.cause());
                reject(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "upstream connect failed: " + f.cause());
                return;
            }
            if (!ctx.channel().isActive()) {
                f.channel().close();
                discardEarly();
                decision.observer().closed(new IllegalStateException("stream closed before upstream connect"));
                return;
            }
            established(ctx, f.channel(), decision);
        });
    }

    private void established(ChannelHandlerContext ctx, Channel app, InboundDecision.Connect decision) {
        state = State.DONE;
        Http2Headers response = new DefaultHttp2Headers().status(HttpResponseStatus.OK.codeAsText());
        if (decision.responseBaggage() != null) {
            String baggage = decision.responseBaggage().encode();
            if (!baggage.isEmpty()) {
                response.set(HboneHeaders.BAGGAGE, baggage);
            }
        }
        ctx.writeAndFlush(new DefaultHttp2HeadersFrame(response, false));
        Channel stream = ctx.channel();
        ctx.pipeline().replace(this, "hbone-bytes", new StreamByteAdapter());
        Relay.start(stream, app, decision.observer());
        // DATA that arrived while we were connecting goes through the relay like the rest.
        ByteBuf b;
        while ((b = early.poll()) != null) {
            stream.pipeline().fireChannelRead(b);
        }
        stream.pipeline().fireChannelReadComplete();
        if (earlyEndStream) {
            stream.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        }
    }

    private void reject(ChannelHandlerContext ctx, HttpResponseStatus status, String reason) {
        state = State.DONE;
        discardEarly();
        log.atDebug()
                .addKeyValue("stream", ctx.channel())
                .addKeyValue("status", status.code())
                .addKeyValue("reason", reason)
                .log("HBONE request rejected");
        if (!ctx.channel().isActive()) {
            return;
        }
        ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status(status.codeAsText()), true));
        ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.NO_ERROR));
        ctx.close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        discardEarly();
        if (state == State.CONNECTING && upstream != null) {
            upstream.close();
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        // Resets before the relay starts simply end the stream (channelInactive follows).
        ReferenceCountUtil.release(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.atDebug()
                .addKeyValue("stream", ctx.channel())
                .addKeyValue(
                        "error",
                        cause instanceof CompletionException && cause.getCause() != null ? cause.getCause() : cause)
                .log("HBONE stream error");
        ctx.close();
    }

    private void discardEarly() {
        ByteBuf b;
        while ((b = early.poll()) != null) {
            b.release();
        }
    }
}
