package io.ztunnel.core.admin;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.ztunnel.core.util.Errors;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small HTTP/1.1 server for the daemon's own endpoints (admin on 15000, readiness on 15021): exact-path routing to
 * handlers that may answer later, 404 with an empty body for unknown paths, a 2 s header timeout, bodies up to 64 KiB.
 *
 * <p>Runs on the control event loop group, never on data-plane threads. Handlers are called on the connection's loop
 * and must not block it; a handler's response buffer is owned by the server, which writes (and so releases) it.
 */
public final class HttpServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HttpServer.class);

    /** A request as handlers see it. */
    public record Request(
            String method, String path, Map<String, List<String>> query, String body, SocketAddress remote) {
        public @Nullable String param(String name) {
            List<String> v = query.get(name);
            return v == null || v.isEmpty() ? null : v.getFirst();
        }
    }

    /** A response: status, content type and body. */
    public record Response(HttpResponseStatus status, String contentType, byte[] body) {
        public static Response text(HttpResponseStatus status, String body) {
            return new Response(status, "text/plain; charset=utf-8", body.getBytes(StandardCharsets.UTF_8));
        }

        /** A response without a body. */
        public static Response empty(HttpResponseStatus status) {
            return new Response(status, "text/plain; charset=utf-8", new byte[0]);
        }

        public static Response json(String body) {
            return new Response(HttpResponseStatus.OK, "application/json", body.getBytes(StandardCharsets.UTF_8));
        }

        public static Response json(HttpResponseStatus status, String body) {
            return new Response(status, "application/json", body.getBytes(StandardCharsets.UTF_8));
        }

        public static Response binary(String contentType, byte[] body) {
            return new Response(HttpResponseStatus.OK, contentType, body);
        }
    }

    /** Handles one path. */
    @FunctionalInterface
    public interface Handler {
        CompletionStage<Response> handle(Request request);
    }

    private static final int MAX_BODY = 64 * 1024;

    private final Map<String, Handler> routes;
    private final List<Channel> channels = new ArrayList<>();

    public HttpServer(Map<String, Handler> routes) {
        this.routes = Map.copyOf(routes);
    }

    /** Binds one more address; throws with the address when that fails. */
    public InetSocketAddress bind(
            EventLoopGroup group, Class<? extends ServerChannel> channelType, InetSocketAddress address) {
        var future = new ServerBootstrap()
                .group(group)
                .channel(channelType)
                .childHandler(initializer())
                .bind(address)
                .awaitUninterruptibly();
        if (!future.isSuccess()) {
            throw new IllegalStateException(
                    "cannot listen on " + address + ": " + Errors.message(future.cause()), future.cause());
        }
        channels.add(future.channel());
        return (InetSocketAddress) future.channel().localAddress();
    }

    /** The pipeline of one accepted connection: header timeout, HTTP/1.1 codec, body aggregation, routing. */
    ChannelInitializer<Channel> initializer() {
        return new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline()
                        .addLast("header-timeout", new ReadTimeoutHandler(2, TimeUnit.SECONDS))
                        .addLast(new HttpServerCodec())
                        .addLast(new HttpObjectAggregator(MAX_BODY))
                        .addLast(new Dispatcher());
            }
        };
    }

    @Override
    public void close() {
        channels.forEach(Channel::close);
    }

    /** Routes requests; one instance per connection. Threading: the connection's event loop. */
    private final class Dispatcher extends SimpleChannelInboundHandler<FullHttpRequest> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest msg) {
            if (msg.decoderResult().isFailure()) {
                log.atDebug()
                        .addKeyValue("remote", ctx.channel().remoteAddress())
                        .addKeyValue("error", Errors.message(msg.decoderResult().cause()))
                        .log("malformed admin request");
                write(ctx, Response.text(HttpResponseStatus.BAD_REQUEST, "malformed request\n"), false);
                return;
            }
            if (ctx.pipeline().get("header-timeout") != null) {
                // 2 s guards the first request's headers; kept-alive connections may then idle for a minute.
                ctx.pipeline().replace("header-timeout", "idle-timeout", new ReadTimeoutHandler(60, TimeUnit.SECONDS));
            }
            QueryStringDecoder uri = new QueryStringDecoder(msg.uri());
            boolean keepAlive = HttpUtil.isKeepAlive(msg);
            Request request = new Request(
                    msg.method().name(),
                    uri.path(),
                    uri.parameters(),
                    msg.content().toString(StandardCharsets.UTF_8),
                    ctx.channel().remoteAddress());
            Handler handler = routes.get(uri.path());
            CompletionStage<Response> response;
            if (handler == null) {
                response = CompletableFuture.completedFuture(Response.empty(HttpResponseStatus.NOT_FOUND));
            } else {
                try {
                    response = handler.handle(request);
                } catch (RuntimeException e) {
                    response = CompletableFuture.failedFuture(e);
                }
            }
            response.whenComplete((r, error) -> ctx.executor().execute(() -> {
                Response out = r;
                if (error != null) {
                    log.atWarn().addKeyValue("path", uri.path()).setCause(error).log("admin handler failed");
                    out = Response.text(
                            HttpResponseStatus.INTERNAL_SERVER_ERROR, "error: " + Errors.message(error) + "\n");
                }
                write(ctx, out, keepAlive);
            }));
        }

        private void write(ChannelHandlerContext ctx, Response r, boolean keepAlive) {
            ByteBuf body = Unpooled.wrappedBuffer(r.body());
            FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, r.status(), body);
            response.headers()
                    .set(HttpHeaderNames.CONTENT_TYPE, r.contentType())
                    .setInt(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes());
            if (keepAlive) {
                response.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
                ctx.writeAndFlush(response);
            } else {
                ctx.writeAndFlush(response).addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.atDebug().addKeyValue("error", Errors.message(cause)).log("admin connection error");
            ctx.close();
        }
    }
}
