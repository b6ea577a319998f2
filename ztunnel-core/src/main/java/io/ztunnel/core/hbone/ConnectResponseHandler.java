package io.ztunnel.core.hbone;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Promise;
import io.ztunnel.core.util.Errors;
import org.jspecify.annotations.Nullable;

/**
 * The client end of one CONNECT exchange on a new stream (pooled connections and the inner connection of a double
 * HBONE tunnel): {@link #send} writes the request; the handler waits for the response, and on 200 replaces itself
 * with a {@link StreamByteAdapter} (reads off), moves the downstream to the stream's loop when there is one, and
 * completes the promise with the stream. Any other answer, a reset or a close fails the promise. The response's
 * {@code baggage} value is kept on the stream ({@link #responseBaggage}).
 *
 * <p>Threading: the stream's event loop. Ownership: releases every frame and event it reads.
 */
final class ConnectResponseHandler extends ChannelInboundHandlerAdapter {
    private static final AttributeKey<CharSequence> RESPONSE_BAGGAGE =
            AttributeKey.valueOf(ConnectResponseHandler.class, "responseBaggage");

    private final Promise<Http2StreamChannel> result;
    private final @Nullable Channel downstream;
    private final EventLoop loop;

    /**
     * @param downstream the client socket to move to {@code loop} before completing, or null
     * @param loop the stream's event loop
     */
    ConnectResponseHandler(Promise<Http2StreamChannel> result, @Nullable Channel downstream, EventLoop loop) {
        this.result = result;
        this.downstream = downstream;
        this.loop = loop;
    }

    /** Writes the CONNECT request for {@code request} on {@code stream}; a failed write fails {@code result}. */
    static void send(Http2StreamChannel stream, HboneRequest request, Promise<Http2StreamChannel> result) {
        Http2Headers headers = new DefaultHttp2Headers().method("CONNECT").authority(request.authority());
        request.addHeaders(headers);
        stream.writeAndFlush(new DefaultHttp2HeadersFrame(headers, false)).addListener((ChannelFutureListener) w -> {
            if (!w.isSuccess()) {
                result.tryFailure(new HboneException(
                        HboneException.Kind.H2_HANDSHAKE_FAILURE,
                        "cannot send CONNECT: " + Errors.message(w.cause()),
                        w.cause()));
                stream.close();
            }
        });
    }

    /** The {@code baggage} the server answered the CONNECT with, or null. */
    static @Nullable CharSequence responseBaggage(Channel stream) {
        return stream.attr(RESPONSE_BAGGAGE).get();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (msg instanceof Http2HeadersFrame headers) {
                CharSequence status = headers.headers().status();
                if (status != null && "200".contentEquals(status) && !headers.isEndStream()) {
                    Http2StreamChannel stream = (Http2StreamChannel) ctx.channel();
                    CharSequence baggage = headers.headers().get(HboneHeaders.BAGGAGE);
                    if (baggage != null) {
                        stream.attr(RESPONSE_BAGGAGE).set(baggage.toString());
                    }
                    stream.config().setAutoRead(false);
                    ctx.pipeline().replace(this, "hbone-bytes", new StreamByteAdapter());
                    HbonePool.moveTo(
                            downstream,
                            loop,
                            () -> {
                                if (!result.trySuccess(stream)) {
                                    stream.close();
                                }
                            },
                            error -> {
                                result.tryFailure(new HboneException(
                                        HboneException.Kind.H2_HANDSHAKE_FAILURE,
                                        "cannot move the downstream connection to the HBONE stream's loop: "
                                                + Errors.message(error),
                                        error));
                                stream.close();
                            });
                    return;
                }
                int code = parseStatus(status);
                result.tryFailure(new HboneException(
                        HboneException.Kind.HTTP_STATUS, code, "HBONE CONNECT rejected with status " + status, null));
                ctx.close();
            } else {
                result.tryFailure(new HboneException(
                        HboneException.Kind.H2_HANDSHAKE_FAILURE,
                        "unexpected " + msg.getClass().getSimpleName() + " before the CONNECT response",
                        null));
                ctx.close();
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof Http2ResetFrame reset) {
            result.tryFailure(new HboneException(
                    HboneException.Kind.H2_HANDSHAKE_FAILURE,
                    "HBONE stream reset before the CONNECT response (code " + reset.errorCode() + ")",
                    null));
        }
        ReferenceCountUtil.release(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        result.tryFailure(new HboneException(
                HboneException.Kind.H2_HANDSHAKE_FAILURE, "HBONE stream closed before the CONNECT response", null));
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        result.tryFailure(new HboneException(
                HboneException.Kind.H2_HANDSHAKE_FAILURE, "HBONE stream failed: " + Errors.message(cause), cause));
        ctx.close();
    }

    private static int parseStatus(@Nullable CharSequence status) {
        try {
            return status == null ? 0 : Integer.parseInt(status.toString());
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
