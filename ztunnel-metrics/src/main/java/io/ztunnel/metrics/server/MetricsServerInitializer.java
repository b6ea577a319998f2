package io.ztunnel.metrics.server;

import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.group.ChannelGroup;
import io.netty.handler.codec.compression.StandardCompressionOptions;
import io.netty.handler.codec.http.HttpContentCompressor;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.ztunnel.metrics.ZtunnelMetrics;

/**
 * Builds the pipeline of an accepted scrape connection: timeouts, HTTP/1.1 codec, keep-alive,
 * gzip/deflate compression (when the client's {@code Accept-Encoding} allows), request
 * aggregation (scrape requests have no body; anything over 8 KiB is refused with 413), and the
 * {@link MetricsHttpHandler}.
 *
 * <p>Threading: {@link #initChannel} runs on the accepted channel's event loop. Every handler it
 * adds is new per channel except the shared {@link ZtunnelMetrics}, which is thread-safe.
 */
final class MetricsServerInitializer extends ChannelInitializer<Channel> {
    static final int MAX_INITIAL_LINE = 4096;
    static final int MAX_HEADER_SIZE = 8192;
    static final int MAX_BODY = 8192;

    private final ZtunnelMetrics metrics;
    private final ChannelGroup connections;
    private final long headerReadTimeoutNanos;
    private final long idleTimeoutNanos;

    MetricsServerInitializer(
            ZtunnelMetrics metrics, ChannelGroup connections, long headerReadTimeoutNanos, long idleTimeoutNanos) {
        this.metrics = metrics;
        this.connections = connections;
        this.headerReadTimeoutNanos = headerReadTimeoutNanos;
        this.idleTimeoutNanos = idleTimeoutNanos;
    }

    @Override
    protected void initChannel(Channel ch) {
        connections.add(ch);
        ChannelPipeline p = ch.pipeline();
        p.addLast("timeouts", new HeaderReadTimeoutHandler(headerReadTimeoutNanos, idleTimeoutNanos));
        p.addLast(
                "codec",
                new HttpServerCodec(new HttpDecoderConfig()
                        .setMaxInitialLineLength(MAX_INITIAL_LINE)
                        .setMaxHeaderSize(MAX_HEADER_SIZE)));
        p.addLast("keepAlive", new HttpServerKeepAliveHandler());
        p.addLast(
                "compressor",
                new HttpContentCompressor(StandardCompressionOptions.gzip(), StandardCompressionOptions.deflate()));
        p.addLast("aggregator", new HttpObjectAggregator(MAX_BODY));
        p.addLast("metrics", new MetricsHttpHandler(metrics::scrape));
    }
}
