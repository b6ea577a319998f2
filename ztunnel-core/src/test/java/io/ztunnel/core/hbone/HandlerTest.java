package io.ztunnel.core.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2PingFrame;
import io.ztunnel.core.net.EndOfStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Handler-level behaviour on {@link EmbeddedChannel}s, each ending with everything released. */
class HandlerTest {

    /** Records inbound bytes and user events that reach the end of the pipeline. */
    private static final class Recorder extends ChannelInboundHandlerAdapter {
        final StringBuilder bytes = new StringBuilder();
        final List<Object> events = new ArrayList<>();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            bytes.append(buf.toString(StandardCharsets.US_ASCII));
            buf.release();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            events.add(evt);
        }
    }

    @Test
    void streamAdapterTurnsDataFramesIntoBytesAndEndStreamIntoEof() {
        Recorder recorder = new Recorder();
        EmbeddedChannel ch = new EmbeddedChannel(new StreamByteAdapter(), recorder);
        ch.writeInbound(new DefaultHttp2DataFrame(Unpooled.copiedBuffer("abc", StandardCharsets.US_ASCII), false));
        ch.writeInbound(new DefaultHttp2DataFrame(Unpooled.EMPTY_BUFFER, false));
        ch.writeInbound(new DefaultHttp2DataFrame(Unpooled.copiedBuffer("def", StandardCharsets.US_ASCII), true));
        assertThat(recorder.bytes.toString()).isEqualTo("abcdef");
        assertThat(recorder.events).containsExactly(ChannelInputShutdownEvent.INSTANCE);
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void streamAdapterTreatsCancelAsEofButNotOtherResets() {
        Recorder recorder = new Recorder();
        EmbeddedChannel ch = new EmbeddedChannel(new StreamByteAdapter(), recorder);
        ch.pipeline().fireUserEventTriggered(new DefaultHttp2ResetFrame(Http2Error.PROTOCOL_ERROR));
        assertThat(recorder.events).isEmpty();
        ch.pipeline().fireUserEventTriggered(new DefaultHttp2ResetFrame(Http2Error.CANCEL));
        ch.pipeline().fireUserEventTriggered(new DefaultHttp2ResetFrame(Http2Error.NO_ERROR));
        assertThat(recorder.events).containsExactly(ChannelInputShutdownEvent.INSTANCE);
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void streamAdapterTreatsTrailersAsEofAndDropsOtherFrames() {
        Recorder recorder = new Recorder();
        EmbeddedChannel ch = new EmbeddedChannel(new StreamByteAdapter(), recorder);
        ch.writeInbound(new DefaultHttp2PingFrame(1));
        ch.writeInbound(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers(), true));
        assertThat(recorder.events).containsExactly(ChannelInputShutdownEvent.INSTANCE);
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void streamAdapterWrapsBytesInDataFramesAndEndOfStreamInAnEmptyEndStreamFrame() {
        EmbeddedChannel ch = new EmbeddedChannel(new StreamByteAdapter());
        ch.writeOutbound(Unpooled.copiedBuffer("xyz", StandardCharsets.US_ASCII), EndOfStream.INSTANCE);
        Http2DataFrame first = ch.readOutbound();
        Http2DataFrame last = ch.readOutbound();
        assertThat(first.content().toString(StandardCharsets.US_ASCII)).isEqualTo("xyz");
        assertThat(first.isEndStream()).isFalse();
        assertThat(last.content().readableBytes()).isZero();
        assertThat(last.isEndStream()).isTrue();
        first.release();
        last.release();
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void pingHandlerPingsEveryIntervalAndClosesWhenTheAnswerIsOverdue() {
        EmbeddedChannel ch =
                new EmbeddedChannel(new PingKeepaliveHandler(Duration.ofSeconds(10), Duration.ofSeconds(20)));
        assertThat((Object) ch.readOutbound()).isNull();

        ch.advanceTimeBy(10, TimeUnit.SECONDS);
        ch.runScheduledPendingTasks();
        Http2PingFrame ping = ch.readOutbound();
        assertThat(ping.ack()).isFalse();
        ch.writeInbound(new DefaultHttp2PingFrame(ping.content(), true));
        assertThat((Object) ch.readInbound()).as("acks are consumed").isNull();

        ch.advanceTimeBy(10, TimeUnit.SECONDS);
        ch.runScheduledPendingTasks();
        Http2PingFrame second = ch.readOutbound();
        assertThat(second).isNotNull();
        for (int i = 0; i < 2; i++) {
            ch.advanceTimeBy(10, TimeUnit.SECONDS);
            ch.runScheduledPendingTasks();
        }
        assertThat(ch.isOpen()).as("no answer for 20 s").isFalse();
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void pingHandlerIgnoresAcksForOtherPayloadsAndPassesOtherFramesOn() {
        EmbeddedChannel ch =
                new EmbeddedChannel(new PingKeepaliveHandler(Duration.ofSeconds(10), Duration.ofSeconds(20)));
        ch.advanceTimeBy(10, TimeUnit.SECONDS);
        ch.runScheduledPendingTasks();
        Http2PingFrame ping = ch.readOutbound();
        ch.writeInbound(new DefaultHttp2PingFrame(ping.content() + 1, true));
        ch.writeInbound(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers(), false));
        assertThat((Object) ch.readInbound()).isInstanceOf(DefaultHttp2HeadersFrame.class);
        ch.advanceTimeBy(20, TimeUnit.SECONDS);
        ch.runScheduledPendingTasks();
        assertThat(ch.isOpen()).isFalse();
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }
}
