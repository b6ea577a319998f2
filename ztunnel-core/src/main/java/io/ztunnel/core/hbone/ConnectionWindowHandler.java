package io.ztunnel.core.hbone;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2ConnectionHandler;
import io.netty.handler.codec.http2.Http2ConnectionPrefaceAndSettingsFrameWrittenEvent;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2LocalFlowController;

/**
 * Raises the connection-level receive window to ztunnel's {@code HTTP2_CONNECTION_WINDOW_SIZE} (16 MiB) right after
 * the preface, with one WINDOW_UPDATE on stream 0 (SETTINGS cannot set it). Removes itself afterwards.
 * Threading: the connection's event loop.
 */
final class ConnectionWindowHandler extends ChannelInboundHandlerAdapter {
    private final int target;

    ConnectionWindowHandler(int target) {
        this.target = target;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) throws Http2Exception {
        Http2ConnectionHandler h2 = ctx.pipeline().get(Http2ConnectionHandler.class);
        if (h2 != null
                && h2.connection().local().flowController() != null
                && ctx.channel().isActive()) {
            // The preface may already be out (handler added after activation).
            grow(ctx, h2);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof Http2ConnectionPrefaceAndSettingsFrameWrittenEvent) {
            Http2ConnectionHandler h2 = ctx.pipeline().get(Http2ConnectionHandler.class);
            if (h2 != null) {
                grow(ctx, h2);
            }
        }
        ctx.fireUserEventTriggered(evt);
    }

    private void grow(ChannelHandlerContext ctx, Http2ConnectionHandler h2) throws Http2Exception {
        Http2Connection connection = h2.connection();
        Http2LocalFlowController flow = connection.local().flowController();
        int current = flow.windowSize(connection.connectionStream());
        if (current < target) {
            flow.incrementWindowSize(connection.connectionStream(), target - current);
            ctx.flush();
        }
        if (ctx.pipeline().context(this) != null) {
            ctx.pipeline().remove(this);
        }
    }
}
