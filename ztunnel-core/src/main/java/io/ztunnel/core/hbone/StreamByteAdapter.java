package io.ztunnel.core.hbone;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.util.ReferenceCountUtil;
import io.ztunnel.core.net.EndOfStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes an HTTP/2 stream channel look like a byte stream to the relay: DATA frames in become {@link ByteBuf}s,
 * END_STREAM (or trailers, or RST_STREAM with NO_ERROR/CANCEL) becomes {@link ChannelInputShutdownEvent}; bytes out
 * become DATA frames and {@link EndOfStream} becomes an empty DATA frame with END_STREAM. A stream whose connection a
 * CRL reload closed ends with that error ({@link PeerRevocation}) before it becomes inactive.
 *
 * <p>Threading: the stream channel's event loop. Ownership: the content of an inbound DATA frame is passed on (or
 * released when empty); an outbound {@link ByteBuf} is wrapped in a frame that the HTTP/2 codec releases.
 */
public final class StreamByteAdapter extends ChannelDuplexHandler {
    private static final Logger log = LoggerFactory.getLogger(StreamByteAdapter.class);

    private boolean inputEnded;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Http2DataFrame data) {
            boolean end = data.isEndStream();
            ByteBuf content = data.content();
            if (content.isReadable()) {
                ctx.fireChannelRead(content);
            } else {
                content.release();
            }
            if (end) {
                endInput(ctx);
            }
        } else if (msg instanceof ByteBuf bytes) {
            ctx.fireChannelRead(bytes); // already unwrapped (replayed by the CONNECT handler)
        } else if (msg instanceof Http2HeadersFrame headers) {
            // HBONE has no trailers; treat a trailing HEADERS as the end of the request body.
            if (headers.isEndStream()) {
                endInput(ctx);
            }
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof Http2ResetFrame reset) {
            long code = reset.errorCode();
            log.atDebug()
                    .addKeyValue("stream", ctx.channel())
                    .addKeyValue("code", Http2Error.valueOf(code))
                    .log("HBONE stream reset by peer");
            if (code == Http2Error.NO_ERROR.code() || code == Http2Error.CANCEL.code()) {
                endInput(ctx);
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        HboneException revoked = PeerRevocation.error(ctx.channel().parent());
        if (revoked != null) {
            ctx.fireExceptionCaught(revoked);
        }
        ctx.fireChannelInactive();
    }

    private void endInput(ChannelHandlerContext ctx) {
        if (!inputEnded) {
            inputEnded = true;
            ctx.fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        }
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof ByteBuf buf) {
            ctx.write(new DefaultHttp2DataFrame(buf, false), promise);
        } else if (msg == EndOfStream.INSTANCE) {
            ctx.write(new DefaultHttp2DataFrame(Unpooled.EMPTY_BUFFER, true), promise);
        } else {
            ctx.write(msg, promise);
        }
    }
}
