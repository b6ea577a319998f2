package io.ztunnel.core.net;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.DefaultByteBufHolder;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What a socket delivers before its relay exists: held in order, replayed once, released on every other path. */
class PendingInputTest {

    /** Records what reaches the handler after the {@link PendingInput}. */
    private static final class Recorder extends ChannelInboundHandlerAdapter {
        final List<String> seen = new ArrayList<>();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            seen.add(buf.toString(StandardCharsets.US_ASCII));
            buf.release();
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            seen.add("<complete>");
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            seen.add("<" + evt.getClass().getSimpleName() + ">");
        }
    }

    private final PendingInput pending = new PendingInput();
    private final Recorder recorder = new Recorder();
    private final EmbeddedChannel channel = new EmbeddedChannel(pending, recorder);

    private static ByteBuf bytes(String text) {
        return Unpooled.copiedBuffer(text, StandardCharsets.US_ASCII);
    }

    @Test
    void holdsBytesAndTheEndOfInputUntilReplayedInOrder() {
        channel.writeInbound(bytes("one "), bytes("two"));
        channel.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        assertThat(recorder.seen).as("nothing passes before the relay exists").isEmpty();

        pending.replay();
        assertThat(recorder.seen).containsExactly("one ", "two", "<complete>", "<ChannelInputShutdownEvent>");
        assertThat(channel.pipeline().get(PendingInput.class)).isNull();
        assertThat(channel.finishAndReleaseAll()).isFalse();
    }

    @Test
    void aReplayOfNothingPassesNothingAndRemovesItself() {
        pending.replay();
        assertThat(recorder.seen).isEmpty();
        assertThat(channel.pipeline().get(PendingInput.class)).isNull();
        assertThat(channel.finishAndReleaseAll()).isFalse();
    }

    @Test
    void releasesWhatItHoldsWhenTheConnectionClosesFirst() {
        ByteBuf held = bytes("lost");
        channel.writeInbound(held);
        channel.close();
        assertThat(held.refCnt()).isZero();
        assertThat(recorder.seen).isEmpty();
        assertThat(channel.finishAndReleaseAll()).isFalse();
    }

    @Test
    void releasesWhatItHoldsWhenRemovedWithoutAReplay() {
        ByteBuf held = bytes("dropped");
        channel.writeInbound(held);
        channel.pipeline().remove(pending);
        assertThat(held.refCnt()).isZero();
        assertThat(channel.finishAndReleaseAll()).isFalse();
    }

    @Test
    void releasesMessagesThatAreNotBytesAndPassesOtherEventsOn() {
        DefaultByteBufHolder frame = new DefaultByteBufHolder(bytes("frame"));
        channel.writeInbound(frame);
        assertThat(frame.refCnt()).isZero();
        channel.pipeline().fireUserEventTriggered("custom");
        assertThat(recorder.seen).containsExactly("<String>");
        assertThat(channel.finishAndReleaseAll()).isFalse();
    }
}
