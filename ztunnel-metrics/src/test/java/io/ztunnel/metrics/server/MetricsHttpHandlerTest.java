package io.ztunnel.metrics.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.handler.codec.compression.StandardCompressionOptions;
import io.netty.handler.codec.http.HttpContentCompressor;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpServerKeepAliveHandler;
import io.netty.util.concurrent.ImmediateEventExecutor;
import io.ztunnel.metrics.ExpositionFormat;
import io.ztunnel.metrics.ZtunnelMetrics;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The request handler in an {@link EmbeddedChannel}: statuses, framing and buffer ownership. */
class MetricsHttpHandlerTest {
    private final ZtunnelMetrics metrics =
            ZtunnelMetrics.builder().jvmMetrics(false).build();
    private final List<ByteBuf> bodies = new ArrayList<>();

    @AfterEach
    void close() {
        metrics.close();
    }

    private EmbeddedChannel channel(MetricsHttpHandler.Scraper scraper) {
        return new EmbeddedChannel(
                new HeaderReadTimeoutHandler(TimeUnit.SECONDS.toNanos(2), TimeUnit.MINUTES.toNanos(5)),
                new HttpServerCodec(),
                new HttpServerKeepAliveHandler(),
                new HttpContentCompressor(StandardCompressionOptions.gzip()),
                new HttpObjectAggregator(MetricsServerInitializer.MAX_BODY),
                new MetricsHttpHandler(scraper));
    }

    /** Records the body buffer the handler allocates, to check who released it. */
    private MetricsHttpHandler.Scraper recording(MetricsHttpHandler.Scraper delegate) {
        return (format, out) -> {
            bodies.add(((ByteBufOutputStream) out).buffer());
            delegate.scrape(format, out);
        };
    }

    private static String exchange(EmbeddedChannel ch, String request) {
        ch.writeInbound(Unpooled.copiedBuffer(request, StandardCharsets.US_ASCII));
        StringBuilder sb = new StringBuilder();
        for (ByteBuf b = ch.readOutbound(); b != null; b = ch.readOutbound()) {
            sb.append(b.toString(StandardCharsets.ISO_8859_1));
            b.release();
        }
        return sb.toString();
    }

    @Test
    void answersPipelinedRequestsInOrderOnOneConnection() {
        EmbeddedChannel ch = channel(recording(metrics::scrape));
        String out = exchange(
                ch,
                "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                        + "PUT /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                        + "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");

        int notFound = out.indexOf("HTTP/1.1 404 Not Found");
        int notAllowed = out.indexOf("HTTP/1.1 405 Method Not Allowed");
        int ok = out.indexOf("HTTP/1.1 200 OK");
        assertThat(notFound).isGreaterThanOrEqualTo(0);
        assertThat(notAllowed).isGreaterThan(notFound);
        assertThat(ok).isGreaterThan(notAllowed);
        assertThat(out.substring(ok)).contains("istio_build{component=\"ztunnel\",tag=\"unknown\"} 1\n");
        assertThat(ch.isActive()).isTrue();
        assertThat(bodies).singleElement().satisfies(b -> assertThat(b.refCnt()).isZero());
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void headReleasesTheRenderedBody() {
        EmbeddedChannel ch = channel(recording(metrics::scrape));
        String out = exchange(ch, "HEAD /stats/prometheus HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
        assertThat(out).startsWith("HTTP/1.1 200 OK").endsWith("\r\n\r\n").doesNotContain("content-encoding");
        assertThat(bodies).singleElement().satisfies(b -> assertThat(b.refCnt()).isZero());
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void aFailingScrapeIs500AndLeaksNothing() {
        EmbeddedChannel ch = channel(recording((format, o) -> {
            o.write("half an exposi".getBytes(StandardCharsets.US_ASCII));
            throw new IOException("boom");
        }));
        String out = exchange(ch, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assertThat(out)
                .startsWith("HTTP/1.1 500 Internal Server Error")
                .contains("scrape failed")
                .doesNotContain("half an");
        assertThat(bodies).singleElement().satisfies(b -> assertThat(b.refCnt()).isZero());
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void aBrokenRequestLineIs400AndClosesTheConnection() {
        EmbeddedChannel ch = channel(recording(metrics::scrape));
        String out = exchange(ch, "\u0001\u0002 garbage\r\n\r\n");
        assertThat(out).startsWith("HTTP/1.1 400 Bad Request");
        assertThat(ch.isActive()).isFalse();
        assertThat(bodies).isEmpty();
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void connectionCloseIsHonoured() {
        EmbeddedChannel ch = channel(recording(metrics::scrape));
        String out = exchange(
                ch,
                "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept: application/openmetrics-text\r\n\r\n");
        assertThat(out)
                .startsWith("HTTP/1.1 200 OK")
                .contains("content-type: " + ExpositionFormat.OPENMETRICS.contentType())
                .endsWith("# EOF\n");
        assertThat(ch.isActive()).isFalse();
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void serverPipelineIsBuiltAsDocumented() {
        EmbeddedChannel ch = new EmbeddedChannel(new MetricsServerInitializer(
                metrics, new DefaultChannelGroup(ImmediateEventExecutor.INSTANCE), 1_000_000_000L, 0));
        assertThat(ch.pipeline().names())
                .containsSubsequence("timeouts", "codec", "keepAlive", "compressor", "aggregator", "metrics");
        String out = exchange(ch, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assertThat(out)
                .startsWith("HTTP/1.1 200 OK")
                .contains("content-type: text/plain; version=0.0.4; charset=utf-8");
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }
}
