package io.ztunnel.core.hbone;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.DefaultHttp2PingFrame;
import io.netty.handler.codec.http2.Http2PingFrame;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Liveness of an HBONE connection: sends an HTTP/2 PING every {@code interval} (the first one {@code interval} after
 * the connection is up) and closes the connection when an answer is {@code timeout} overdue. Both ends of HBONE do this.
 *
 * <p>Sits on the parent (connection) pipeline after the HTTP/2 multiplexer, so it sees the connection-level frames
 * the multiplexer passes on; it consumes PING acks and passes everything else on. Threading: the connection's event
 * loop only.
 */
public final class PingKeepaliveHandler extends ChannelDuplexHandler {
    private static final Logger log = LoggerFactory.getLogger(PingKeepaliveHandler.class);

    private final long intervalNanos;
    private final long timeoutNanos;
    private @Nullable ScheduledFuture<?> timer;
    private long outstandingPayload;
    /** Ticks since the unanswered PING was sent, or -1 when none is outstanding (ticks keep tests deterministic). */
    private long outstandingTicks = -1;

    public PingKeepaliveHandler(Duration interval, Duration timeout) {
        this.intervalNanos = interval.toNanos();
        this.timeoutNanos = timeout.toNanos();
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        if (ctx.channel().isActive()) {
            start(ctx);
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        start(ctx);
        ctx.fireChannelActive();
    }

    private void start(ChannelHandlerContext ctx) {
        if (timer == null && intervalNanos > 0) {
            timer = ctx.executor()
                    .scheduleAtFixedRate(() -> tick(ctx), intervalNanos, intervalNanos, TimeUnit.NANOSECONDS);
        }
    }

    private void tick(ChannelHandlerContext ctx) {
        if (outstandingTicks >= 0) {
            outstandingTicks++;
            if (outstandingTicks * intervalNanos >= timeoutNanos) {
                log.atInfo()
                        .addKeyValue("peer", ctx.channel().remoteAddress())
                        .addKeyValue("timeout", Duration.ofNanos(timeoutNanos))
                        .log("HBONE connection did not answer PING; closing it");
                ctx.close();
            }
            return;
        }
        outstandingPayload = ThreadLocalRandom.current().nextLong();
        outstandingTicks = 0;
        ctx.writeAndFlush(new DefaultHttp2PingFrame(outstandingPayload, false));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Http2PingFrame ping) {
            if (ping.ack() && ping.content() == outstandingPayload) {
                outstandingTicks = -1;
            }
            ReferenceCountUtil.release(msg);
            return;
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        stop();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        stop();
    }

    private void stop() {
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }
}
