package io.ztunnel.core.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.DefaultByteBufHolder;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.local.LocalChannel;
import io.netty.channel.local.LocalIoHandler;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/**
 * The relay between two channels on one thread: a client socket and a server socket ({@link EmbeddedSocket}), or a
 * server that is an HTTP/2-stream-like channel (a plain {@link EmbeddedChannel}). Every test ends with nothing left
 * unread and nothing leaked.
 */
class RelayTest {

    /** What the relay reported. */
    private static final class Recorder implements ConnectionObserver {
        @Nullable
        Runnable abort;

        long received;
        long sent;
        final List<@Nullable Throwable> closed = new ArrayList<>();

        @Override
        public void established(Runnable abort) {
            this.abort = abort;
        }

        @Override
        public void bytes(long received, long sent) {
            this.received += received;
            this.sent += sent;
        }

        @Override
        public void closed(@Nullable Throwable error) {
            closed.add(error);
        }
    }

    private final Recorder observer = new Recorder();
    private final EmbeddedSocket client = new EmbeddedSocket();
    private final EmbeddedSocket server = new EmbeddedSocket();

    private static ByteBuf bytes(String text) {
        return Unpooled.copiedBuffer(text, StandardCharsets.US_ASCII);
    }

    /** Everything written to {@code channel} so far, as text; releases what it reads. */
    private static String written(EmbeddedChannel channel) {
        StringBuilder out = new StringBuilder();
        Object msg;
        while ((msg = channel.readOutbound()) != null) {
            if (msg instanceof ByteBuf buf) {
                out.append(buf.toString(StandardCharsets.US_ASCII));
                buf.release();
            } else {
                out.append('<').append(msg).append('>');
            }
        }
        return out.toString();
    }

    private static void assertDone(EmbeddedChannel... channels) {
        for (EmbeddedChannel c : channels) {
            assertThat(written(c)).isEmpty();
            assertThat(c.finishAndReleaseAll()).as("nothing left in %s", c).isFalse();
        }
    }

    @Test
    void copiesBytesBothWaysAndCountsThem() {
        Relay relay = Relay.start(client, server, observer);
        client.writeInbound(bytes("hello"));
        server.writeInbound(bytes("world!"));
        assertThat(written(server)).isEqualTo("hello");
        assertThat(written(client)).isEqualTo("world!");
        assertThat(relay.received()).isEqualTo(5);
        assertThat(relay.sent()).isEqualTo(6);
        assertThat(observer.received).isEqualTo(5);
        assertThat(observer.sent).isEqualTo(6);
        assertThat(observer.abort).as("established").isNotNull();

        relay.abort();
        assertThat(client.isOpen()).isFalse();
        assertThat(server.isOpen()).isFalse();
        assertThat(observer.closed).hasSize(1);
        written(server); // the empty flush before the close
        assertDone(client, server);
    }

    @Test
    void flushesOncePerReadLoop() {
        Relay.start(client, server, observer);
        client.writeOneInbound(bytes("a"));
        client.writeOneInbound(bytes("b"));
        assertThat(server.outboundMessages()).as("written, not yet flushed").isEmpty();
        client.pipeline().fireChannelReadComplete();
        assertThat(written(server)).isEqualTo("ab");
        client.close();
        written(server);
        assertDone(client, server);
    }

    @Test
    void aHalfCloseTravelsAsShutdownOutputAndBothDirectionsEndIndependently() {
        Relay.start(client, server, observer);
        client.writeInbound(bytes("request"));
        client.peerHalfCloses();
        assertThat(written(server)).isEqualTo("request");
        assertThat(server.isOutputShutdown()).isTrue();
        assertThat(client.isOpen()).as("the answer can still come").isTrue();

        server.writeInbound(bytes("a long answer"));
        assertThat(written(client)).isEqualTo("a long answer");
        assertThat(observer.closed).isEmpty();

        server.peerHalfCloses();
        assertThat(client.isOutputShutdown()).isTrue();
        assertThat(client.isOpen()).isFalse();
        assertThat(server.isOpen()).isFalse();
        assertThat(observer.closed).as("a clean end").containsExactly((Throwable) null);
        assertDone(client, server);
    }

    @Test
    void aHalfCloseTowardsAStreamBecomesEndOfStream() {
        EmbeddedChannel stream = new EmbeddedChannel();
        Relay.start(client, stream, observer);
        client.writeInbound(bytes("body"));
        client.peerHalfCloses();
        assertThat(written(stream)).isEqualTo("body<EndOfStream>");
        assertThat(stream.isOpen()).isTrue();
        stream.close();
        written(client);
        assertThat(client.isOpen()).isFalse();
        assertDone(client, stream);
    }

    @Test
    void aFullOutboundBufferStopsReadingThePeerUntilItDrains() {
        server.config().setWriteBufferWaterMark(new WriteBufferWaterMark(8, 16));
        Relay.start(client, server, observer);
        assertThat(client.config().isAutoRead()).isTrue();

        client.writeOneInbound(bytes("more than sixteen bytes"));
        assertThat(server.isWritable()).isFalse();
        assertThat(client.config().isAutoRead()).as("backpressure").isFalse();

        client.pipeline().fireChannelReadComplete(); // the flush drains the server's buffer
        assertThat(server.isWritable()).isTrue();
        assertThat(client.config().isAutoRead()).isTrue();
        assertThat(written(server)).isEqualTo("more than sixteen bytes");
        client.close();
        written(server);
        assertDone(client, server);
    }

    @Test
    void aResetEndsTheOtherSideAfterWhatItWasGiven() {
        Relay.start(client, server, observer);
        server.writeInbound(bytes("partial"));
        IOException reset = new IOException("Connection reset by peer");
        server.pipeline().fireExceptionCaught(reset);
        assertThat(server.isOpen()).isFalse();
        assertThat(client.isOpen()).isFalse();
        assertThat(written(client)).isEqualTo("partial");
        assertThat(observer.closed).containsExactly(reset);
        assertDone(client, server);
    }

    @Test
    void bytesForAPeerThatIsAlreadyGoneAreReleased() {
        client.pipeline().addLast(new PendingInput());
        ByteBuf early = bytes("early");
        client.writeInbound(early);
        server.close();
        Relay.start(client, server, observer);
        assertThat(early.refCnt()).isZero();
        assertThat(client.isOpen())
                .as("its peer closed while the relay was set up")
                .isFalse();
        assertThat(observer.closed).hasSize(1);
        assertDone(client, server);
    }

    @Test
    void whatArrivedBeforeTheRelayIsReplayedIntoIt() {
        client.pipeline().addLast(new PendingInput());
        client.writeInbound(bytes("sent "), bytes("early"));
        client.peerHalfCloses();
        assertThat(client.pipeline().get(PendingInput.class)).isNotNull();

        Relay.start(client, server, observer);
        assertThat(client.pipeline().get(PendingInput.class))
                .as("removed after the replay")
                .isNull();
        assertThat(written(server)).isEqualTo("sent early");
        assertThat(server.isOutputShutdown()).isTrue();
        server.close();
        written(client);
        assertDone(client, server);
    }

    @Test
    void messagesThatAreNotBytesAreReleased() {
        Relay.start(client, server, observer);
        DefaultByteBufHolder frame = new DefaultByteBufHolder(bytes("not for the relay"));
        client.writeInbound(frame);
        assertThat(frame.refCnt()).isZero();
        assertThat(written(server)).isEmpty();
        client.close();
        written(server);
        assertDone(client, server);
    }

    @Test
    void refusesChannelsOnDifferentEventLoops() throws Exception {
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, LocalIoHandler.newFactory());
        try {
            LocalChannel elsewhere = new LocalChannel();
            group.register(elsewhere).sync();
            assertThatThrownBy(() -> Relay.start(client, elsewhere, observer))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("share an event loop");
            elsewhere.close().sync();
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
        assertDone(client, server);
    }
}
