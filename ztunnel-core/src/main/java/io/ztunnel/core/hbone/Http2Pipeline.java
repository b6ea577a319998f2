package io.ztunnel.core.hbone;

import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import io.ztunnel.core.config.HboneSettings;
import io.ztunnel.core.util.Errors;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builds the HTTP/2 part of an HBONE connection's pipeline, the same way on both ends, once TLS is up:
 * {@code h2} (the frame codec with ztunnel's settings for the role; on the server followed by {@code h2-errors}, which
 * maps protocol errors to the codes RFC 9113 names), {@code h2-window} (the connection-level receive
 * window), {@code h2-streams} (one child channel per stream), {@code h2-ping} (PING keepalive), and a tail that sees
 * the connection-level frames. Stateless.
 *
 * <p>Threading: call on the connection's event loop. Ownership: the tail releases every frame that reaches it.
 */
final class Http2Pipeline {
    private static final Logger log = LoggerFactory.getLogger(Http2Pipeline.class);
    /** RST_STREAM frames a client may send per window before the server closes the connection (rapid reset). */
    private static final int MAX_RESETS_PER_WINDOW = 10_000;

    private static final int RESET_WINDOW_SECONDS = 30;

    /**
     * How long after the drain deadline the codec closes a draining connection by itself. The daemon closes what is
     * still open at the deadline (with its access line and reason); the codec's own timer is only a backstop, and
     * must not race the daemon's at the deadline itself.
     */
    static final Duration DRAIN_BACKSTOP = Duration.ofSeconds(5);

    private Http2Pipeline() {}

    /**
     * The inbound (server) side: advertises the stream limit and header list size of the HBONE server, and on close
     * sends GOAWAY and lets open streams run; the daemon closes what is left at {@code drainDeadline}, the codec itself
     * {@link #DRAIN_BACKSTOP} later.
     *
     * @param streams initializes each stream the client opens
     */
    static void server(
            ChannelPipeline pipeline,
            HboneSettings settings,
            Duration drainDeadline,
            ChannelInitializer<Http2StreamChannel> streams) {
        Http2FrameCodec codec = HboneCodecBuilder.inbound(settings.frameSize())
                .initialSettings(new Http2Settings()
                        .maxConcurrentStreams(settings.serverMaxConcurrentStreams())
                        .initialWindowSize(settings.streamWindow())
                        .maxFrameSize(settings.frameSize())
                        .maxHeaderListSize(settings.serverMaxHeaderListSize()))
                .gracefulShutdownTimeoutMillis(
                        drainDeadline.plus(DRAIN_BACKSTOP).toMillis())
                .decoderEnforceMaxRstFramesPerWindow(MAX_RESETS_PER_WINDOW, RESET_WINDOW_SECONDS)
                .validateRequiredPseudoHeaders(true)
                .build();
        install(pipeline, codec, settings, streams, new Tail());
        // The server answers protocol errors with the codes RFC 9113 names (Http2ErrorHandler).
        pipeline.addAfter("h2", "h2-errors", new Http2ErrorHandler());
    }

    /**
     * The outbound (client) side: push disabled, streams opened only by us (a stream the server opens is closed).
     *
     * @param monitor the tail: watches SETTINGS and GOAWAY for the pool
     */
    static void client(ChannelPipeline pipeline, HboneSettings settings, Tail monitor) {
        Http2FrameCodec codec = HboneCodecBuilder.outbound()
                .initialSettings(new Http2Settings()
                        .pushEnabled(false)
                        .initialWindowSize(settings.streamWindow())
                        .maxFrameSize(settings.frameSize())
                        .maxHeaderListSize(settings.clientMaxHeaderListSize()))
                .build();
        install(
                pipeline,
                codec,
                settings,
                new ChannelInitializer<Http2StreamChannel>() {
                    @Override
                    protected void initChannel(Http2StreamChannel stream) {
                        stream.close(); // servers do not open streams towards us (push is disabled)
                    }
                },
                monitor);
    }

    private static void install(
            ChannelPipeline pipeline,
            Http2FrameCodec codec,
            HboneSettings settings,
            ChannelInitializer<Http2StreamChannel> streams,
            ChannelHandler tail) {
        pipeline.addLast("h2", codec);
        pipeline.addLast("h2-window", new ConnectionWindowHandler(settings.connectionWindow()));
        pipeline.addLast("h2-streams", new Http2MultiplexHandler(streams));
        pipeline.addLast("h2-ping", new PingKeepaliveHandler(settings.pingInterval(), settings.pingTimeout()));
        pipeline.addLast("h2-tail", tail);
    }

    /**
     * The end of a connection's pipeline: shows each connection-level frame (SETTINGS, PING acks, GOAWAY) to
     * {@link #observe}, then releases it; closes the connection on an error. The server's tail only releases. Threading:
     * the connection's event loop.
     */
    static class Tail extends ChannelInboundHandlerAdapter {
        @Override
        public final void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                observe(ctx, msg);
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        /** Looks at a frame before it is released; must not keep it. */
        protected void observe(ChannelHandlerContext ctx, Object frame) {}

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.atDebug()
                    .addKeyValue("connection", ctx.channel())
                    .addKeyValue("error", Errors.message(cause))
                    .log("HBONE connection error");
            ctx.close();
        }
    }
}
