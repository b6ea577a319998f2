package io.ztunnel.metrics.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Closes a scrape connection that takes too long to send a request, or sits idle too long
 * between requests.
 *
 * <ul>
 *   <li>Header read timeout: armed by the first bytes of a request on an idle connection and
 *       cancelled when the request has been fully decoded ({@link #requestReceived}); a client
 *       that trickles its headers (slowloris) is cut off after it. Bytes that arrive while a
 *       response is still being written do not arm it (the idle timeout bounds that case).
 *   <li>Idle timeout: armed when the connection opens and whenever the last response has been
 *       written ({@link #responseSent}), so kept-alive connections of a scraper survive between
 *       scrapes but abandoned ones do not pile up.
 * </ul>
 *
 * <p>Placement: before the HTTP codec, so it sees raw {@link ByteBuf}s; the request handler after
 * the codec reports request and response boundaries. It passes every message on and releases
 * nothing.
 *
 * <p>Threading: all methods run on the channel's event loop (a control-group thread).
 */
final class HeaderReadTimeoutHandler extends ChannelDuplexHandler {
    private static final Logger log = LoggerFactory.getLogger(HeaderReadTimeoutHandler.class);

    private final long headerReadTimeoutNanos;
    private final long idleTimeoutNanos;

    private @Nullable ChannelHandlerContext ctx;
    private @Nullable ScheduledFuture<?> timer;
    private boolean readingHead;
    private int inFlight;

    /**
     * @param headerReadTimeoutNanos time allowed from a request's first byte to its full head
     * @param idleTimeoutNanos time an idle connection is kept; 0 or less keeps it forever
     */
    HeaderReadTimeoutHandler(long headerReadTimeoutNanos, long idleTimeoutNanos) {
        if (headerReadTimeoutNanos <= 0) {
            throw new IllegalArgumentException(
                    "headerReadTimeoutNanos: " + headerReadTimeoutNanos + " (expected: > 0)");
        }
        this.headerReadTimeoutNanos = headerReadTimeoutNanos;
        this.idleTimeoutNanos = idleTimeoutNanos;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        if (ctx.channel().isActive()) {
            armIdle();
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        armIdle();
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!readingHead && inFlight == 0 && msg instanceof ByteBuf buf && buf.isReadable()) {
            readingHead = true;
            arm(headerReadTimeoutNanos, "header read timeout");
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancel();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        cancel();
    }

    /** A complete request has been decoded; its response is now owed. Event loop only. */
    void requestReceived() {
        readingHead = false;
        inFlight++;
        cancel();
    }

    /** A response has been written. Event loop only. */
    void responseSent() {
        if (inFlight > 0) {
            inFlight--;
        }
        if (inFlight == 0 && !readingHead) {
            armIdle();
        }
    }

    private void armIdle() {
        if (idleTimeoutNanos > 0) {
            arm(idleTimeoutNanos, "idle timeout");
        } else {
            cancel();
        }
    }

    private void arm(long nanos, String reason) {
        cancel();
        ChannelHandlerContext c = ctx;
        if (c == null) {
            return;
        }
        timer = c.executor()
                .schedule(
                        () -> {
                            timer = null;
                            log.atDebug()
                                    .addKeyValue("peer", c.channel().remoteAddress())
                                    .addKeyValue("reason", reason)
                                    .log("closing metrics connection");
                            c.close();
                        },
                        nanos,
                        TimeUnit.NANOSECONDS);
    }

    private void cancel() {
        ScheduledFuture<?> t = timer;
        if (t != null) {
            timer = null;
            t.cancel(false);
        }
    }
}
