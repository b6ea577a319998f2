package io.ztunnel.metrics.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.ztunnel.metrics.ExpositionFormat;
import io.ztunnel.metrics.ZtunnelMetrics;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers scrapes: {@code GET}/{@code HEAD} on {@code /metrics} or {@code /stats/prometheus}
 * render the registry in the format the {@code Accept} header negotiates; other paths get 404,
 * other methods on those paths 405 (with {@code Allow}), malformed requests 400/414/431 and a
 * closed connection.
 *
 * <p>Threading: runs on the accepted channel's event loop, which belongs to the daemon's control
 * group; the scrape itself runs there too, so it never competes with data-plane threads.
 *
 * <p>Buffers: the request is released by {@link SimpleChannelInboundHandler} after
 * {@link #channelRead0}. The response body is allocated here and handed to the pipeline with the
 * response; if rendering fails, or for {@code HEAD}, it is released here.
 */
final class MetricsHttpHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final Logger log = LoggerFactory.getLogger(MetricsHttpHandler.class);

    /** Renders an exposition; {@link ZtunnelMetrics#scrape(ExpositionFormat, OutputStream)}. */
    @FunctionalInterface
    interface Scraper {
        void scrape(ExpositionFormat format, OutputStream out) throws IOException;
    }

    private final Scraper metrics;
    /** Size of the last exposition, to allocate the next one in one go. Event loop only. */
    private int lastSize = 64 * 1024;

    MetricsHttpHandler(Scraper metrics) {
        this.metrics = metrics;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
        HeaderReadTimeoutHandler timeouts = ctx.pipeline().get(HeaderReadTimeoutHandler.class);
        if (timeouts != null) {
            timeouts.requestReceived();
        }
        if (!ctx.channel().isActive()) {
            return; // e.g. the codec flushing a partial request after a timeout closed the connection
        }
        DecoderResult decoded = req.decoderResult();
        if (decoded.isFailure()) {
            HttpResponseStatus status = decoded.cause() instanceof TooLongHttpLineException
                    ? HttpResponseStatus.REQUEST_URI_TOO_LONG
                    : decoded.cause() instanceof TooLongHttpHeaderException
                            ? HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
                            : HttpResponseStatus.BAD_REQUEST;
            log.atDebug()
                    .addKeyValue("peer", ctx.channel().remoteAddress())
                    .addKeyValue("status", status.code())
                    .addKeyValue("error", ErrorText.of(decoded.cause()))
                    .log("rejecting malformed metrics request");
            FullHttpResponse res = text(status, status.reasonPhrase() + "\n");
            HttpUtil.setKeepAlive(res, false);
            ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        String path = new QueryStringDecoder(req.uri()).path();
        FullHttpResponse res;
        if (!path.equals("/metrics") && !path.equals("/stats/prometheus")) {
            res = text(HttpResponseStatus.NOT_FOUND, "not found\n");
        } else if (!req.method().equals(HttpMethod.GET) && !req.method().equals(HttpMethod.HEAD)) {
            res = text(HttpResponseStatus.METHOD_NOT_ALLOWED, "method not allowed\n");
            res.headers().set(HttpHeaderNames.ALLOW, "GET, HEAD");
        } else {
            res = scrape(ctx, req);
        }
        ctx.writeAndFlush(res).addListener(f -> {
            if (timeouts != null) {
                timeouts.responseSent();
            }
        });
    }

    private FullHttpResponse scrape(ChannelHandlerContext ctx, FullHttpRequest req) {
        ExpositionFormat format = ExpositionFormat.negotiate(req.headers().getAll(HttpHeaderNames.ACCEPT));
        ByteBuf body = ctx.alloc().buffer(lastSize);
        try {
            try (ByteBufOutputStream out = new ByteBufOutputStream(body)) {
                metrics.scrape(format, out);
            }
        } catch (Exception e) {
            body.release();
            log.atWarn().setCause(e).addKeyValue("format", format).log("metrics scrape failed");
            return text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "scrape failed: " + ErrorText.of(e) + "\n");
        }
        int length = body.readableBytes();
        lastSize = Math.max(1024, length + length / 8);
        FullHttpResponse res;
        if (req.method().equals(HttpMethod.HEAD)) {
            body.release();
            res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, Unpooled.EMPTY_BUFFER);
        } else {
            res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, body);
        }
        res.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, format.contentType())
                .setInt(HttpHeaderNames.CONTENT_LENGTH, length)
                .set(HttpHeaderNames.VARY, HttpHeaderNames.ACCEPT);
        return res;
    }

    private static FullHttpResponse text(HttpResponseStatus status, String body) {
        ByteBuf content = Unpooled.copiedBuffer(body, StandardCharsets.UTF_8);
        FullHttpResponse res = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, content);
        res.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.TEXT_PLAIN + "; charset=utf-8")
                .setInt(HttpHeaderNames.CONTENT_LENGTH, content.readableBytes());
        return res;
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Peer resets and the like are normal endings for a scrape connection.
        log.atDebug()
                .addKeyValue("peer", ctx.channel().remoteAddress())
                .addKeyValue("error", ErrorText.of(cause))
                .log("metrics connection error");
        ctx.close();
    }
}
