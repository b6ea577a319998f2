package io.ztunnel.core.hbone;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
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
import io.ztunnel.core.net.HboneAddress;
import io.ztunnel.core.net.PendingInput;
import io.ztunnel.core.util.Errors;
import io.ztunnel.core.util.LogSpan;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The first handler of an inbound HBONE stream: validates the CONNECT (400 for another method or an unparsable
 * authority) and hands the stream, as an {@link InboundStream}, to its owner, which rejects or accepts it. On accept it
 * answers 200 and replaces itself with a {@link StreamByteAdapter} followed by a {@link PendingInput} holding the DATA
 * that arrived meanwhile, so the relay starts on a byte channel like any socket.
 *
 * <p>Threading: the stream channel's event loop (the parent connection's loop). Ownership: DATA that arrives before the
 * decision is queued here and either handed to the {@link PendingInput} or released when the stream is rejected or
 * closes; frames of no interest are released at once.
 */
final class ConnectStreamHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(ConnectStreamHandler.class);

    private enum State {
        AWAITING_HEADERS,
        DECIDING,
        DONE
    }

    private final Consumer<InboundStream> owner;
    private final SpiffeId peerIdentity;
    private final ArrayDeque<ByteBuf> early = new ArrayDeque<>();
    private State state = State.AWAITING_HEADERS;
    private boolean earlyEndStream;
    /** The client ended its side (END_STREAM seen). */
    private boolean requestEnded;

    /**
     * @param owner receives each well-formed CONNECT, on the stream's loop
     * @param peerIdentity the client's SPIFFE identity, from its certificate
     */
    ConnectStreamHandler(Consumer<InboundStream> owner, SpiffeId peerIdentity) {
        this.owner = owner;
        this.peerIdentity = peerIdentity;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (msg instanceof Http2HeadersFrame headers && state == State.AWAITING_HEADERS) {
                requestEnded = headers.isEndStream();
                onRequest(ctx, headers.headers());
            } else if (msg instanceof Http2DataFrame data && state == State.DECIDING) {
                if (data.content().isReadable()) {
                    early.add(data.content().retain());
                }
                earlyEndStream |= data.isEndStream();
                requestEnded |= data.isEndStream();
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void onRequest(ChannelHandlerContext ctx, Http2Headers headers) {
        state = State.DECIDING;
        Stream stream = new Stream(ctx);
        if (!HttpMethod.CONNECT.asciiName().contentEquals(headers.method())) {
            stream.reject(HttpResponseStatus.BAD_REQUEST, "method " + headers.method() + " is not CONNECT");
            return;
        }
        HboneAddress target;
        try {
            target = HboneAddress.parse(headers.authority());
        } catch (IllegalArgumentException e) {
            stream.reject(HttpResponseStatus.BAD_REQUEST, Errors.message(e));
            return;
        }
        Channel parent = ((Http2StreamChannel) ctx.channel()).parent();
        stream.request = new InboundRequest(
                peerIdentity,
                (InetSocketAddress) parent.remoteAddress(),
                (InetSocketAddress) parent.localAddress(),
                target,
                headers);
        ctx.channel().config().setAutoRead(false);
        try {
            owner.accept(stream);
        } catch (RuntimeException e) {
            log.atWarn()
                    .addKeyValue("target", target)
                    .addKeyValue(LogSpan.KEY, stream.logSpan)
                    .setCause(e)
                    .log("inbound stream handling failed");
            stream.reject(HttpResponseStatus.SERVICE_UNAVAILABLE, Errors.message(e));
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        discardEarly();
        ctx.fireChannelInactive();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        // Resets before the decision simply end the stream (channelInactive follows).
        ReferenceCountUtil.release(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.atDebug()
                .addKeyValue("stream", ctx.channel())
                .addKeyValue("error", Errors.message(cause))
                .log("HBONE stream error");
        ctx.close();
    }

    private void discardEarly() {
        ByteBuf b;
        while ((b = early.poll()) != null) {
            b.release();
        }
    }

    /** The handle given to the owner; decides the stream once. */
    private final class Stream implements InboundStream {
        private final ChannelHandlerContext ctx;
        private @Nullable InboundRequest request;
        private @Nullable LogSpan logSpan;

        Stream(ChannelHandlerContext ctx) {
            this.ctx = ctx;
        }

        @Override
        public InboundRequest request() {
            if (request == null) {
                throw new IllegalStateException("the CONNECT request was not valid");
            }
            return request;
        }

        @Override
        public EventLoop eventLoop() {
            return ctx.channel().eventLoop();
        }

        @Override
        public void logSpan(LogSpan span) {
            this.logSpan = span;
        }

        @Override
        public boolean isActive() {
            return ctx.channel().isActive();
        }

        @Override
        public ChannelFuture closeFuture() {
            return ctx.channel().closeFuture();
        }

        @Override
        public void reject(HttpResponseStatus status, String reason) {
            if (state != State.DECIDING) {
                return;
            }
            state = State.DONE;
            discardEarly();
            log.atDebug()
                    .addKeyValue("stream", ctx.channel())
                    .addKeyValue("status", status.code())
                    .addKeyValue("reason", reason)
                    .addKeyValue(LogSpan.KEY, logSpan)
                    .log("HBONE request rejected");
            if (!ctx.channel().isActive()) {
                return;
            }
            ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status(status.codeAsText()), true));
            if (!requestEnded) {
                // RFC 9113 §8.1: a complete response before the complete request; ask the client to stop sending.
                // When the client had already ended its side, the response closes the stream and nothing more is
                // sent.
                ctx.write(new DefaultHttp2ResetFrame(Http2Error.NO_ERROR));
            }
            ctx.flush();
            ctx.close();
        }

        @Override
        public Channel accept(@Nullable Baggage responseBaggage) {
            Channel stream = ctx.channel();
            if (state != State.DECIDING) {
                return stream;
            }
            state = State.DONE;
            Http2Headers response = new DefaultHttp2Headers().status(HttpResponseStatus.OK.codeAsText());
            if (responseBaggage != null) {
                String baggage = responseBaggage.encode();
                if (!baggage.isEmpty()) {
                    response.set(HboneHeaders.BAGGAGE, baggage);
                }
            }
            ctx.writeAndFlush(new DefaultHttp2HeadersFrame(response, false));
            ctx.pipeline().replace(ConnectStreamHandler.this, "hbone-bytes", new StreamByteAdapter());
            stream.pipeline().addLast("pending", new PendingInput());
            // DATA that arrived while the owner decided waits in the PendingInput like a socket's early bytes.
            ByteBuf b;
            boolean any = false;
            while ((b = early.poll()) != null) {
                any = true;
                stream.pipeline().fireChannelRead(b);
            }
            if (any) {
                stream.pipeline().fireChannelReadComplete();
            }
            if (earlyEndStream) {
                stream.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
            }
            return stream;
        }
    }
}
