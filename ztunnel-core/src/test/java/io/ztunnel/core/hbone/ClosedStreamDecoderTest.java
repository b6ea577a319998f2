package io.ztunnel.core.hbone;

import static io.ztunnel.core.testing.RawHttp2.headers;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.ReferenceCountUtil;
import io.ztunnel.core.testing.RawHttp2;
import io.ztunnel.core.testing.RawHttp2.Frame;
import java.io.ByteArrayOutputStream;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link ClosedStreamDecoder} in a server codec on an {@link EmbeddedChannel}, with stream channels that read and
 * never answer (so a stream stays half-closed (remote) for as long as the test needs): the errors it names, that input
 * split anywhere decodes as whole, and that it neither buffers an oversized frame nor goes on after a connection error.
 * Stream 1 is not used: on a channel without a server parent, Netty's multiplexer takes it for an h2c upgrade.
 */
class ClosedStreamDecoderTest {
    private static final int MAX_FRAME = 16_384;
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

    private void start() {
        channel = new EmbeddedChannel(
                HboneCodecBuilder.inbound(MAX_FRAME)
                        .initialSettings(new Http2Settings().maxFrameSize(MAX_FRAME))
                        .validateRequiredPseudoHeaders(true)
                        .build(),
                new Http2ErrorHandler(),
                new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                    @Override
                    protected void initChannel(Http2StreamChannel stream) {
                        stream.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                                ReferenceCountUtil.release(msg);
                            }
                        });
                    }
                }));
        send(RawHttp2.PREFACE, RawHttp2.settings());
    }

    private void send(byte[]... chunks) {
        for (byte[] chunk : chunks) {
            channel.writeInbound(Unpooled.wrappedBuffer(chunk));
        }
        channel.runPendingTasks();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    /** Everything the server wrote so far, as frames. */
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

    private static List<Frame> of(List<Frame> frames, int type) {
        return frames.stream().filter(f -> f.type() == type).toList();
    }

    @Test
    void headersOnAHalfClosedRemoteStreamIsAStreamErrorStreamClosed() {
        // Netty counts the first HEADERS twice when it ended the stream, and would say PROTOCOL_ERROR.
        start();
        send(headers(3, true, GET), headers(3, true, "x-more", "1"));

        List<Frame> resets = of(written(), RawHttp2.RST_STREAM);
        assertThat(resets).hasSize(1);
        assertThat(resets.getFirst().stream()).isEqualTo(3);
        assertThat(resets.getFirst().errorCode()).isEqualTo(RawHttp2.STREAM_CLOSED);
        assertThat(channel.isActive())
                .as("a stream error leaves the connection up")
                .isTrue();
    }

    @Test
    void headersOnASkippedIdentifierIsAConnectionErrorProtocolError() {
        start();
        send(headers(7, true, GET), headers(3, true, GET));

        List<Frame> goaways = of(written(), RawHttp2.GOAWAY);
        assertThat(goaways).hasSize(1);
        assertThat(goaways.getFirst().errorCode()).isEqualTo(RawHttp2.PROTOCOL_ERROR);
        assertThat(channel.isActive()).isFalse();
    }

    @Test
    void inputSplitAtEveryByteDecodesAsWhole() {
        start();
        byte[] input = concat(headers(3, false, GET), RawHttp2.windowUpdate(3, 100), headers(7, true, GET));
        for (byte b : input) {
            send(new byte[] {b});
        }
        send(headers(5, true, GET)); // skipped when 7 was opened

        List<Frame> frames = written();
        assertThat(of(frames, RawHttp2.RST_STREAM)).isEmpty();
        assertThat(of(frames, RawHttp2.GOAWAY))
                .singleElement()
                .extracting(Frame::errorCode)
                .isEqualTo(RawHttp2.PROTOCOL_ERROR);
    }

    @Test
    void aFrameLongerThanTheLimitIsRefusedFromItsHeaderAlone() {
        start();
        // Only the 9-byte header of a frame one byte over the limit: nothing waits for the payload.
        byte[] header = new byte[] {0, 0x40, 0x01, RawHttp2.DATA, 0, 0, 0, 0, 1};
        send(header);

        assertThat(of(written(), RawHttp2.GOAWAY))
                .singleElement()
                .extracting(Frame::errorCode)
                .isEqualTo(RawHttp2.FRAME_SIZE_ERROR);
    }

    @Test
    void afterAConnectionErrorTheRestOfTheInputIsDiscarded() {
        start();
        send(headers(7, true, GET));
        send(concat(headers(3, true, GET), headers(5, true, GET), headers(3, true, GET)));

        assertThat(of(written(), RawHttp2.GOAWAY)).hasSize(1);
    }
}
