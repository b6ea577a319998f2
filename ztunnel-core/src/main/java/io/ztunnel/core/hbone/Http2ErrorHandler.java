package io.ztunnel.core.hbone;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameStreamException;
import io.ztunnel.core.util.Errors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes HTTP/2 protocol errors reach the peer with the error code RFC 9113 names, on both ends of an HBONE connection.
 * Sits right after the frame codec.
 *
 * <p>Netty's frame codec reports an error to the pipeline before it answers it: for a connection error it fires the
 * exception and then sends GOAWAY with the error's code and closes; for a stream error on a stream that has a stream
 * channel it only fires the exception and leaves the RST_STREAM to that channel. Our handlers close on any exception,
 * which would answer the first with GOAWAY(NO_ERROR) and the second with RST_STREAM(CANCEL). So here a stream error
 * is answered with RST_STREAM carrying its code, written before the stream channel hears of the error (so the CANCEL
 * its close would send is dropped as a second reset) and flushed after; the stream channel still gets the exception,
 * so the relay records the failure. A connection error ends here: the codec answers it as soon as this returns.
 * Other exceptions (I/O, TLS) are passed on.
 *
 * <p>Threading: the connection's event loop. Holds no buffers.
 */
final class Http2ErrorHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(Http2ErrorHandler.class);

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof Http2FrameStreamException e) {
            log.atDebug()
                    .addKeyValue("connection", ctx.channel())
                    .addKeyValue("stream", e.stream().id())
                    .addKeyValue("error", e.error())
                    .addKeyValue("reason", Errors.message(e))
                    .log("HTTP/2 stream error; resetting the stream");
            ctx.write(new DefaultHttp2ResetFrame(e.error()).stream(e.stream()));
            ctx.fireExceptionCaught(e);
            ctx.flush();
            return;
        }
        Http2Exception h2 = Http2CodecUtil.getEmbeddedHttp2Exception(cause);
        if (h2 != null) {
            // The codec sends GOAWAY with this code and closes the connection right after this returns.
            log.atDebug()
                    .addKeyValue("connection", ctx.channel())
                    .addKeyValue("error", h2.error())
                    .addKeyValue("reason", Errors.message(h2))
                    .log("HTTP/2 connection error; the codec sends GOAWAY");
            return;
        }
        ctx.fireExceptionCaught(cause);
    }
}
