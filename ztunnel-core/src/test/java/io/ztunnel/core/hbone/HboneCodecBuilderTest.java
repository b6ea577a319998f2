package io.ztunnel.core.hbone;

import static io.ztunnel.core.testing.RawHttp2.headers;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import io.ztunnel.core.testing.RawHttp2;
import io.ztunnel.core.testing.RawHttp2.Frame;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The codec {@link HboneCodecBuilder} builds, on an {@link EmbeddedChannel}: when several streams have bulk data queued
 * at once (a busy HBONE connection), the connection's send window goes out in large DATA frames, stream after stream,
 * not in small interleaved slices (Netty's default distributor wrote 1 KiB frames in turn, which made the eight-
 * connection throughput collapse). Stream 1 is not used: on a channel without a server parent, Netty's multiplexer
 * takes it for an h2c upgrade.
 */
class HboneCodecBuilderTest {
    private static final int SETTINGS_MAX_FRAME_SIZE = 0x5;
    private static final int CHUNK = 16 * 1024;
    private static final int CHUNKS_PER_STREAM = 16; // 256 KiB per stream
    /**
     * A turn is the allocation quantum or what the channel's buffer takes, whichever is less; Netty lets the flow
     * controller fill at least 32 KiB, and the embedded channel's buffer (64 KiB) is smaller than the quantum.
     */
    private static final int MIN_FRAME = 32 * 1024;

    private static final String[] GET = {":method", "GET", ":scheme", "https", ":path", "/", ":authority", "x"};

    // Set by each test before use; the teardown closes what was set.
    @SuppressWarnings("NullAway.Init")
    private EmbeddedChannel channel;

    @AfterEach
    void tearDown() {
        if (channel != null) {
            channel.finishAndReleaseAll();
        }
    }

    @Test
    void busyStreamsSendLargeFramesInTurn() {
        channel = new EmbeddedChannel(
                HboneCodecBuilder.inbound(1 << 20)
                        .initialSettings(new Http2Settings().maxFrameSize(1 << 20))
                        .build(),
                new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                    @Override
                    protected void initChannel(Http2StreamChannel stream) {
                        stream.pipeline().addLast(new BulkResponder());
                    }
                }));
        // The peer allows 4 MiB per stream, 16 MiB for the connection and frames up to 1 MiB.
        send(
                RawHttp2.PREFACE,
                RawHttp2.settings(RawHttp2.SETTINGS_INITIAL_WINDOW_SIZE, 4 << 20, SETTINGS_MAX_FRAME_SIZE, 1 << 20),
                RawHttp2.windowUpdate(0, (16 << 20) - 65_535));
        // Four requests in one read: each stream queues its bytes, and the codec's flush after the read sends them.
        ByteArrayOutputStream requests = new ByteArrayOutputStream();
        for (int stream = 3; stream <= 9; stream += 2) {
            requests.writeBytes(headers(stream, true, GET));
        }
        send(requests.toByteArray());

        List<Frame> data = new ArrayList<>();
        for (int i = 0; i < 100 && totalBytes(data) < 4 * CHUNK * CHUNKS_PER_STREAM; i++) {
            channel.flush(); // each flush writes what the channel's buffer takes; writability brings the next turn
            channel.runPendingTasks();
            data.addAll(
                    written().stream().filter(f -> f.type() == RawHttp2.DATA).toList());
        }

        Map<Integer, Integer> bytesPerStream = new LinkedHashMap<>();
        data.forEach(f -> bytesPerStream.merge(f.stream(), f.payload().length, Integer::sum));
        assertThat(bytesPerStream)
                .as("every stream's bytes arrive whole")
                .containsOnlyKeys(3, 5, 7, 9)
                .allSatisfy((stream, bytes) -> assertThat(bytes).isEqualTo(CHUNK * CHUNKS_PER_STREAM));
        // What a round of the send window cannot fill (the channel's buffer is nearly full) may go as a smaller frame;
        // the bulk travels in large ones.
        int inLargeFrames = data.stream()
                .filter(f -> f.payload().length >= MIN_FRAME)
                .mapToInt(f -> f.payload().length)
                .sum();
        assertThat(inLargeFrames)
                .as("bytes sent in DATA frames of at least 32 KiB")
                .isGreaterThanOrEqualTo(totalBytes(data) * 9 / 10);
    }

    /** Answers a request with 200 and {@value #CHUNKS_PER_STREAM} DATA frames of 16 KiB, written but not flushed. */
    private static final class BulkResponder extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            boolean request = msg instanceof Http2HeadersFrame;
            ReferenceCountUtil.release(msg);
            if (!request) {
                return;
            }
            ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")));
            for (int i = 0; i < CHUNKS_PER_STREAM; i++) {
                ctx.write(
                        new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(new byte[CHUNK]), i == CHUNKS_PER_STREAM - 1));
            }
        }
    }

    private static int totalBytes(List<Frame> frames) {
        return frames.stream().mapToInt(f -> f.payload().length).sum();
    }

    private void send(byte[]... chunks) {
        for (byte[] chunk : chunks) {
            channel.writeInbound(Unpooled.wrappedBuffer(chunk));
        }
        channel.runPendingTasks();
    }

    private List<Frame> written() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuf b;
        while ((b = channel.readOutbound()) != null) {
            byte[] bytes = new byte[b.readableBytes()];
            b.readBytes(bytes);
            b.release();
            out.writeBytes(bytes);
        }
        return RawHttp2.parseFrames(out.toByteArray());
    }
}
