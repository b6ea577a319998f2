package io.ztunnel.core.hbone;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ImmediateEventExecutor;
import io.netty.util.concurrent.Promise;
import io.netty.util.concurrent.ScheduledFuture;
import io.ztunnel.core.config.HboneSettings;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.TlsMaterial;
import io.ztunnel.core.net.ChannelConnector;
import io.ztunnel.core.net.SocketSettings;
import io.ztunnel.core.util.Errors;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Function;
import javax.net.ssl.SSLSession;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The outbound HBONE connection pool of one proxy (one pod, or the daemon in dedicated mode), multiplexing proxied
 * connections as CONNECT streams over few mutual-TLS HTTP/2 connections, as ztunnel does:
 *
 * <ul>
 *   <li>Connections are shared only by requests with the same {@link PoolKey}.
 *   <li>A connection carries at most min({@code POOL_MAX_STREAMS_PER_CONNECTION}, the peer's
 *       SETTINGS_MAX_CONCURRENT_STREAMS) streams. As upstream's check-in rule: a connection handed out for the stream
 *       that fills it leaves the pool for good (it closes when its last stream ends) and the next request dials a new
 *       one; so with a cap of 1 every proxied connection gets its own TLS connection.
 *   <li>Only one dial per key is in flight at a time; other requests for the key wait for it.
 *   <li>The server's identity is checked against the expected identities right after the TLS handshake, before any
 *       request is sent; the client certificate is the source identity's.
 *   <li>Connections unused for {@code POOL_UNUSED_RELEASE_TIMEOUT} are closed; connections that received GOAWAY,
 *       failed a PING, or closed leave the pool.
 * </ul>
 *
 * <p>Threading: each HTTP/2 connection lives on one event loop (the loop of the request that dialed it) and its
 * streams with it. A downstream channel that gets a slot on a connection of another loop is moved to that loop before
 * the future completes, so a relay never crosses threads. Per-key bookkeeping is guarded by the key's lock, held only
 * for short, non-blocking sections; everything that touches a channel runs on that channel's loop.
 */
public final class HbonePool implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HbonePool.class);

    private final HboneSettings settings;
    private final ChannelConnector connector;
    private final Function<SpiffeId, CompletionStage<TlsMaterial>> tls;
    private final Map<PoolKey, KeyState> keys = new ConcurrentHashMap<>();
    private final AtomicInteger connections = new AtomicInteger();
    private volatile boolean closed;

    /**
     * @param connector opens the TCP connections (from the source pod's network namespace, with its mark)
     * @param tls the TLS material of a source identity
     */
    public HbonePool(
            HboneSettings settings, ChannelConnector connector, Function<SpiffeId, CompletionStage<TlsMaterial>> tls) {
        this.settings = settings;
        this.connector = connector;
        this.tls = tls;
    }

    /**
     * Sends a CONNECT for {@code request} on behalf of {@code downstream} (an accepted socket with reads off). The
     * future succeeds once the server answered 200, with the stream ready for the relay (reads off, a
     * {@link StreamByteAdapter} installed) and {@code downstream} registered on the stream's event loop; it fails with an
     * {@link HboneException} otherwise. A successful future completes on the stream's loop, so its listeners may start
     * the relay directly; a failed one may complete on any thread. May be called from any thread.
     */
    public Future<Http2StreamChannel> connect(Channel downstream, HboneRequest request) {
        return connect(downstream, downstream.eventLoop(), request);
    }

    /**
     * Sends a CONNECT with no downstream socket to move (tests, probes): the stream may be on any loop; a new
     * connection, if one is needed, is dialed on {@code loop}.
     */
    public Future<Http2StreamChannel> connect(EventLoop loop, HboneRequest request) {
        return connect(null, loop, request);
    }

    private Future<Http2StreamChannel> connect(@Nullable Channel downstream, EventLoop loop, HboneRequest request) {
        // Listeners run on the completing thread: the stream's loop on success (where the downstream now is too).
        Promise<Http2StreamChannel> result = ImmediateEventExecutor.INSTANCE.newPromise();
        if (closed) {
            result.setFailure(new HboneException(HboneException.Kind.CONNECT, "HBONE pool is closed", null));
            return result;
        }
        Waiter waiter = new Waiter(request, downstream, loop, result);
        KeyState state = keys.computeIfAbsent(request.key(), k -> new KeyState(k));
        synchronized (state) {
            state.waiters.add(waiter);
        }
        serve(state);
        return result;
    }

    /** Open HBONE connections of this pool. */
    public int connectionCount() {
        return connections.get();
    }

    /** Closes every pooled connection (the pod is gone); streams on them end. */
    @Override
    public void close() {
        closed = true;
        for (KeyState state : keys.values()) {
            List<PooledConnection> open;
            List<Waiter> waiting;
            synchronized (state) {
                open = List.copyOf(state.connections);
                waiting = List.copyOf(state.waiters);
                state.waiters.clear();
            }
            open.forEach(c -> c.channel.close());
            HboneException closedError = new HboneException(HboneException.Kind.CONNECT, "HBONE pool is closed", null);
            waiting.forEach(w -> w.result().tryFailure(closedError));
        }
    }

    /** A request waiting for a connection slot. */
    private record Waiter(
            HboneRequest request, @Nullable Channel downstream, EventLoop loop, Promise<Http2StreamChannel> result) {}

    /** Per-key bookkeeping; every field is guarded by the object's lock. */
    private static final class KeyState {
        final PoolKey key;
        final List<PooledConnection> connections = new ArrayList<>(1);
        final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
        boolean dialing;

        KeyState(PoolKey key) {
            this.key = key;
        }
    }

    /** One pooled HTTP/2 connection. {@code active}, {@code peerMaxStreams}, {@code goingAway} are guarded by the key lock. */
    private final class PooledConnection {
        final Channel channel;
        final KeyState state;
        int active;
        int peerMaxStreams = Integer.MAX_VALUE;
        boolean goingAway;

        @Nullable
        ScheduledFuture<?> idleTimer;

        PooledConnection(Channel channel, KeyState state) {
            this.channel = channel;
            this.state = state;
        }

        boolean hasCapacity() {
            return !goingAway && channel.isActive() && active < cap();
        }

        int cap() {
            return Math.min(settings.poolMaxStreamsPerConnection(), peerMaxStreams);
        }

        /** A stream on this connection ended. Runs on the connection's loop. */
        void release() {
            boolean idle;
            boolean close;
            synchronized (state) {
                active--;
                idle = active == 0 && !goingAway;
                close = active == 0 && goingAway;
            }
            if (close) {
                channel.close();
            } else if (idle && channel.isActive()) {
                idleTimer = channel.eventLoop()
                        .schedule(
                                () -> {
                                    boolean stillIdle;
                                    synchronized (state) {
                                        stillIdle = active == 0;
                                        if (stillIdle) {
                                            goingAway = true; // no new streams while it closes
                                        }
                                    }
                                    if (stillIdle) {
                                        log.atDebug()
                                                .addKeyValue("destination", state.key.destination())
                                                .log("closing idle HBONE connection");
                                        channel.close();
                                    }
                                },
                                settings.poolIdleTimeout().toNanos(),
                                TimeUnit.NANOSECONDS);
            }
            serve(state);
        }
    }

    /** Hands free slots to waiters in order; dials when slots run out. Any thread. */
    private void serve(KeyState state) {
        while (true) {
            Waiter waiter;
            PooledConnection slot = null;
            boolean dial = false;
            synchronized (state) {
                waiter = state.waiters.peek();
                while (waiter != null && waiter.result().isDone()) { // cancelled while waiting
                    state.waiters.poll();
                    waiter = state.waiters.peek();
                }
                if (waiter == null) {
                    if (state.connections.isEmpty() && !state.dialing) {
                        keys.remove(state.key, state);
                    }
                    return;
                }
                for (PooledConnection c : state.connections) {
                    if (c.hasCapacity()) {
                        slot = c;
                        break;
                    }
                }
                if (slot != null) {
                    state.waiters.poll();
                    slot.active++;
                    if (slot.active >= slot.cap()) {
                        slot.goingAway = true; // filled: out of the pool, closes after its last stream
                    }
                } else if (!state.dialing && !closed) {
                    state.dialing = true;
                    dial = true;
                }
            }
            if (slot == null) {
                if (dial) {
                    dial(state, waiter.loop());
                }
                return;
            }
            PooledConnection connection = slot;
            Waiter granted = waiter;
            connection.channel.eventLoop().execute(() -> {
                if (connection.idleTimer != null) {
                    connection.idleTimer.cancel(false);
                    connection.idleTimer = null;
                }
                openStream(connection, granted);
            });
        }
    }

    private void dial(KeyState state, EventLoop loop) {
        PoolKey key = state.key;
        tls.apply(key.source())
                .whenComplete((material, error) -> loop.execute(() -> {
                    if (error != null || material == null) {
                        dialFailed(
                                state,
                                new HboneException(
                                        HboneException.Kind.NO_CERTIFICATE,
                                        "no certificate for " + key.source() + ": "
                                                + (error == null
                                                        ? "the certificate manager gave none"
                                                        : Errors.message(error)),
                                        error));
                        return;
                    }
                    connector
                            .connect(loop, key.destination(), null, new ChannelInboundHandlerAdapter())
                            .addListener((ChannelFutureListener) f -> {
                                if (!f.isSuccess()) {
                                    Throwable cause = f.cause();
                                    boolean timeout = cause instanceof ConnectTimeoutException;
                                    dialFailed(
                                            state,
                                            new HboneException(
                                                    timeout
                                                            ? HboneException.Kind.NETWORK_POLICY
                                                            : HboneException.Kind.CONNECT,
                                                    (timeout ? "timed out connecting to " : "failed to connect to ")
                                                            + key.destination()
                                                            + (timeout
                                                                    ? " (maybe a NetworkPolicy is blocking HBONE port 15008)"
                                                                    : "")
                                                            + ": " + Errors.message(cause),
                                                    cause));
                                    return;
                                }
                                handshake(state, f.channel(), material);
                            });
                }));
    }

    private void handshake(KeyState state, Channel ch, TlsMaterial material) {
        PoolKey key = state.key;
        if (closed) { // the pool closed while this dial was in flight: nobody would ever close the connection
            ch.close();
            dialFailed(state, new HboneException(HboneException.Kind.CONNECT, "HBONE pool is closed", null));
            return;
        }
        if (!ch.isActive()) { // closed right after connecting: no engine must be created for a dead pipeline
            dialFailed(
                    state,
                    new HboneException(
                            HboneException.Kind.CONNECT,
                            "connection to " + key.destination() + " closed before the TLS handshake",
                            null));
            return;
        }
        SocketSettings.connectionLevel(ch);
        ch.pipeline().addLast("tls", material.newClientHandler(ch.alloc()));
        ch.pipeline()
                .addLast(
                        "hbone-handshake",
                        new ClientHandshakeHandler(key, material, new ClientHandshakeHandler.Outcome() {
                            @Override
                            public void succeeded(SSLSession session) {
                                PeerRevocation.track(ch, material, session, false);
                                established(state, ch);
                            }

                            @Override
                            public void failed(HboneException failure) {
                                ch.close();
                                dialFailed(state, failure);
                            }
                        }));
        ch.config().setAutoRead(true);
    }

    private void established(KeyState state, Channel ch) {
        PooledConnection connection = new PooledConnection(ch, state);
        Http2Pipeline.client(ch.pipeline(), settings, new ConnectionMonitor(connection));
        connections.incrementAndGet();
        ch.closeFuture().addListener(f -> {
            connections.decrementAndGet();
            synchronized (state) {
                state.connections.remove(connection);
            }
            serve(state);
        });
        synchronized (state) {
            state.connections.add(connection);
            state.dialing = false;
        }
        if (closed) { // close() may have taken its snapshot before the add above; the close listener cleans up
            ch.close();
            return;
        }
        log.atDebug()
                .addKeyValue("destination", state.key.destination())
                .addKeyValue("source", state.key.source())
                .log("HBONE connection established");
        serve(state);
    }

    private void dialFailed(KeyState state, HboneException failure) {
        List<Waiter> failed;
        synchronized (state) {
            state.dialing = false;
            // Everyone waiting for this dial fails with it; later requests dial afresh.
            failed = List.copyOf(state.waiters);
            state.waiters.clear();
        }
        log.atDebug()
                .addKeyValue("destination", state.key.destination())
                .addKeyValue("error", Errors.message(failure))
                .log("HBONE dial failed");
        failed.forEach(w -> w.result().tryFailure(failure));
        serve(state);
    }

    /** Opens a stream for {@code waiter} on its reserved slot. Runs on the connection's loop. */
    private void openStream(PooledConnection connection, Waiter waiter) {
        if (waiter.result().isDone()) {
            connection.release();
            return;
        }
        new Http2StreamChannelBootstrap(connection.channel)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, SocketSettings.WATER_MARK)
                .handler(new ConnectResponseHandler(
                        waiter.result(), waiter.downstream(), connection.channel.eventLoop()))
                .open()
                .addListener((Future<Http2StreamChannel> f) -> {
                    if (!f.isSuccess()) {
                        connection.release();
                        waiter.result()
                                .tryFailure(new HboneException(
                                        HboneException.Kind.H2_HANDSHAKE_FAILURE,
                                        "cannot open HBONE stream: " + Errors.message(f.cause()),
                                        f.cause()));
                        return;
                    }
                    Http2StreamChannel stream = f.getNow();
                    stream.closeFuture().addListener(c -> connection.release());
                    if (waiter.result().isDone()) { // the downstream went away meanwhile
                        stream.close();
                        return;
                    }
                    ConnectResponseHandler.send(stream, waiter.request(), waiter.result());
                });
    }

    /** Moves {@code downstream} to {@code loop} (if it is elsewhere), then runs {@code then} there. */
    static void moveTo(@Nullable Channel downstream, EventLoop loop, Runnable then, Consumer<Throwable> failed) {
        if (downstream == null || downstream.eventLoop() == loop) {
            then.run();
            return;
        }
        downstream.deregister().addListener((ChannelFutureListener) d -> {
            if (!d.isSuccess()) {
                failed.accept(d.cause());
                return;
            }
            loop.register(downstream).addListener((ChannelFutureListener) r -> {
                if (r.isSuccess()) {
                    then.run();
                } else {
                    failed.accept(r.cause());
                }
            });
        });
    }

    /**
     * The client connection's tail: watches connection-level frames, SETTINGS (stream limit) and GOAWAY (leave the
     * pool). Threading: the connection's event loop; the tail releases the frames.
     */
    private final class ConnectionMonitor extends Http2Pipeline.Tail {
        private final PooledConnection connection;

        ConnectionMonitor(PooledConnection connection) {
            this.connection = connection;
        }

        @Override
        protected void observe(ChannelHandlerContext ctx, Object frame) {
            if (frame instanceof Http2SettingsFrame settings) {
                Long max = settings.settings().maxConcurrentStreams();
                if (max != null) {
                    synchronized (connection.state) {
                        connection.peerMaxStreams = (int) Math.min(max, 65535);
                    }
                    serve(connection.state);
                }
            } else if (frame instanceof Http2GoAwayFrame) {
                boolean idle;
                synchronized (connection.state) {
                    connection.goingAway = true;
                    idle = connection.active == 0;
                }
                if (idle) {
                    ctx.close();
                }
            }
        }
    }
}
