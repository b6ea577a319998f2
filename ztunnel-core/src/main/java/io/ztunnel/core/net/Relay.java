package io.ztunnel.core.net;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.ReferenceCountUtil;
import io.ztunnel.core.util.Errors;
import io.ztunnel.core.util.LogSpan;
import java.io.IOException;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Copies bytes both ways between a downstream (client side) and an upstream (server side) channel, each either a TCP
 * socket or an HTTP/2 stream that carries raw {@link ByteBuf}s (see the HBONE stream adapter).
 *
 * <ul>
 *   <li>Byte exact, in order; one flush per read loop.
 *   <li>Backpressure: when a channel's outbound buffer is full, reads on its peer stop until it drains (for HTTP/2 this
 *       toggles reads on the stream channel, which withholds WINDOW_UPDATEs; the shared connection is never paused).
 *   <li>Half-close: EOF on one side becomes {@code shutdownOutput()} (TCP) or END_STREAM (HTTP/2) on the other, after
 *       everything before it was flushed; each direction ends independently. A TCP socket is closed once both of its
 *       directions are done; an HTTP/2 stream closes itself.
 *   <li>An abrupt end of one side (reset, error) ends the other: TCP after flushing what it was given, an HTTP/2
 *       stream with RST_STREAM(CANCEL). Resets and EOFs are normal endings and logged at debug level only.
 * </ul>
 *
 * <p>Threading: both channels must be on the same event loop; every method runs there. Buffers read from one side are
 * written to the other (ownership passes to the peer's outbound buffer) or released when the peer is gone.
 */
public final class Relay {
    private static final Logger log = LoggerFactory.getLogger(Relay.class);

    private final Channel downstream;
    private final Channel upstream;
    private final ConnectionObserver observer;
    private final Side down;
    private final Side up;
    private long received;
    private long sent;
    private @Nullable Throwable error;
    private boolean finished;

    private Relay(Channel downstream, Channel upstream, ConnectionObserver observer) {
        this.downstream = downstream;
        this.upstream = upstream;
        this.observer = observer;
        this.down = new Side(downstream, true);
        this.up = new Side(upstream, false);
    }

    /**
     * Starts relaying between two active channels: installs the copy handlers last in each pipeline and turns reads on.
     * Must be called on the channels' event loop.
     */
    public static Relay start(Channel downstream, Channel upstream, ConnectionObserver observer) {
        if (!onOneThread(downstream, upstream)) {
            throw new IllegalArgumentException("relay channels must share an event loop");
        }
        Relay relay = new Relay(downstream, upstream, observer);
        downstream.pipeline().addLast("relay", relay.down);
        upstream.pipeline().addLast("relay", relay.up);
        observer.established(relay::abort);
        for (Side side : new Side[] {relay.down, relay.up}) {
            PendingInput pending = side.channel.pipeline().get(PendingInput.class);
            if (pending != null) {
                pending.replay();
            }
        }
        for (Side side : new Side[] {relay.down, relay.up}) {
            if (!side.channel.isActive()) {
                side.peer().abortAfterFlush(); // it closed while the relay was being set up
            }
        }
        setReading(downstream, upstream.isWritable());
        setReading(upstream, downstream.isWritable());
        return relay;
    }

    /**
     * Whether both channels run on one thread: the same event loop, or two loops both current for the caller, which
     * only happens when they run on one thread (EmbeddedChannel's, in unit tests).
     */
    private static boolean onOneThread(Channel a, Channel b) {
        return a.eventLoop() == b.eventLoop()
                || (a.eventLoop().inEventLoop() && b.eventLoop().inEventLoop());
    }

    public long received() {
        return received;
    }

    public long sent() {
        return sent;
    }

    /** Closes both sides now (e.g. the connection is no longer authorized). */
    public void abort() {
        if (downstream.eventLoop().inEventLoop()) {
            downstream.close();
            upstream.close();
        } else {
            downstream.eventLoop().execute(this::abort);
        }
    }

    /** Turns reads on or off, except on a socket whose input already ended (there is nothing left to read). */
    private static void setReading(Channel channel, boolean on) {
        if (on && (!channel.isActive() || channel instanceof DuplexChannel duplex && duplex.isInputShutdown())) {
            return;
        }
        channel.config().setAutoRead(on);
    }

    private void finish() {
        if (!finished && !down.channel.isOpen() && !up.channel.isOpen()) {
            finished = true;
            observer.closed(error);
        }
    }

    /** One direction's handler: reads from {@code channel} and writes to the peer side's channel. */
    private final class Side extends ChannelInboundHandlerAdapter {
        final Channel channel;
        final boolean isDownstream;
        boolean inputDone;
        boolean outputDone;
        boolean outputClosing;

        Side(Channel channel, boolean isDownstream) {
            this.channel = channel;
            this.isDownstream = isDownstream;
        }

        /** The other direction's side. */
        Side peer() {
            return isDownstream ? up : down;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof ByteBuf buf)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            int n = buf.readableBytes();
            if (n == 0) {
                buf.release();
                return;
            }
            if (peer().channel.isActive() && !peer().outputClosing) {
                if (isDownstream) {
                    received += n;
                    observer.bytes(n, 0);
                } else {
                    sent += n;
                    observer.bytes(0, n);
                }
                peer().channel.write(buf, peer().channel.voidPromise());
            } else {
                buf.release();
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            peer().channel.flush();
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            // My outbound buffer filled up (or drained): stop (or resume) reading what fills it.
            setReading(peer().channel, channel.isWritable());
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt == ChannelInputShutdownEvent.INSTANCE) {
                inputDone = true;
                peer().shutdownOutput();
                closeIfDone();
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!(inputDone && outputDone)) {
                // Not a clean end of both directions: end the peer too, after what it was already given.
                peer().abortAfterFlush();
            }
            finish();
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (cause instanceof IOException) {
                log.atDebug()
                        .addKeyValue("channel", channel)
                        .addKeyValue("error", Errors.message(cause))
                        .addKeyValue(LogSpan.KEY, observer.logSpan())
                        .log("connection ended by peer");
            } else {
                log.atWarn()
                        .addKeyValue("channel", channel)
                        .addKeyValue(LogSpan.KEY, observer.logSpan())
                        .setCause(cause)
                        .log("relay error");
            }
            if (error == null) {
                error = cause;
            }
            ctx.close();
        }

        /** Ends this side's outbound direction after everything written so far. */
        void shutdownOutput() {
            if (outputClosing) {
                return;
            }
            outputClosing = true;
            if (!channel.isActive()) {
                return;
            }
            if (channel instanceof DuplexChannel duplex) {
                channel.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener((ChannelFutureListener) f -> {
                    if (f.isSuccess()) {
                        duplex.shutdownOutput().addListener((ChannelFutureListener) s -> {
                            outputDone = true;
                            closeIfDone();
                        });
                    } else {
                        channel.close();
                    }
                });
            } else {
                channel.writeAndFlush(EndOfStream.INSTANCE).addListener((ChannelFutureListener) f -> {
                    outputDone = f.isSuccess();
                    if (!f.isSuccess()) {
                        channel.close();
                    }
                });
            }
        }

        void abortAfterFlush() {
            if (!channel.isOpen()) {
                return;
            }
            if (channel instanceof DuplexChannel) {
                channel.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            } else {
                channel.flush();
                channel.close();
            }
        }

        void closeIfDone() {
            if (inputDone && outputDone && channel instanceof DuplexChannel) {
                channel.close();
            }
        }
    }
}
