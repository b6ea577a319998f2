package io.ztunnel.core.net;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;
import org.jspecify.annotations.Nullable;

/**
 * Holds what a socket delivers before its relay exists. Reads are off until then, but the epoll transport still reads
 * once when the peer half-closes (to drain data before the EOF), so a client that sends a request and FIN before the
 * upstream is connected would otherwise lose both. {@link Relay#start} replays the held bytes and EOF into the relay
 * and removes this handler.
 *
 * <p>Threading: the channel's event loop. Ownership: held buffers belong to this handler until replayed, and are
 * released if the channel closes first.
 */
public final class PendingInput extends ChannelInboundHandlerAdapter {
    private final ArrayDeque<ByteBuf> held = new ArrayDeque<>(2);
    private boolean inputShutdown;
    private @Nullable ChannelHandlerContext ctx;

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf buf) {
            held.add(buf);
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == ChannelInputShutdownEvent.INSTANCE) {
            inputShutdown = true;
        } else {
            ctx.fireUserEventTriggered(evt);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        // nothing to flush until the relay exists
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        releaseHeld();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        releaseHeld();
    }

    /** Passes everything held to the handlers after this one, then removes itself. */
    void replay() {
        ChannelHandlerContext ctx = this.ctx;
        if (ctx == null) {
            throw new IllegalStateException("replay() before the handler was added to a pipeline");
        }
        ByteBuf buf;
        boolean any = false;
        while ((buf = held.poll()) != null) {
            any = true;
            ctx.fireChannelRead(buf);
        }
        if (any) {
            ctx.fireChannelReadComplete();
        }
        if (inputShutdown) {
            ctx.fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        }
        ctx.pipeline().remove(this);
    }

    private void releaseHeld() {
        ByteBuf buf;
        while ((buf = held.poll()) != null) {
            buf.release();
        }
    }
}
