package io.ztunnel.core.proxy;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.util.NetUtil;
import io.ztunnel.core.hbone.Baggage;
import io.ztunnel.core.hbone.HboneHeaders;
import io.ztunnel.core.hbone.InboundRequest;
import io.ztunnel.core.hbone.InboundStream;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.net.Addresses;
import io.ztunnel.core.net.HboneAddress;
import io.ztunnel.core.net.PendingInput;
import io.ztunnel.core.net.Relay;
import io.ztunnel.core.net.Sockets;
import io.ztunnel.core.rbac.Authorizer;
import io.ztunnel.core.routing.InboundResolver;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.core.state.Workload;
import io.ztunnel.core.util.Errors;
import io.ztunnel.core.util.LogSpan;
import io.ztunnel.core.util.LogValues;
import io.ztunnel.metrics.ResponseFlags;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The inbound flow of one proxy, from a connection arriving for the local workload to the relay, read top to bottom:
 *
 * <ol>
 *   <li>The connection arrives: an HBONE CONNECT on 15008 ({@link #hbone}, after the HBONE server validated it), or a
 *       plaintext connection captured by the inbound redirect on 15006 ({@link #plaintext}).
 *   <li>Wait for the local workload (up to 5 s), then find the target: for HBONE, destination validation and port
 *       mapping ({@link InboundResolver}); for plaintext, the original destination itself.
 *   <li>{@link #admit}, shared by both: L4 authorization (with the peer's identity when it has one), a
 *       {@link ConnectionRecord}, refusal on deny, a connection to the app (from the client's IP when the proxy may
 *       spoof it; for a {@code PROXY} application tunnel, from and to the pod's loopback unless
 *       {@code LOCALHOST_APP_TUNNEL=false}, with a {@link ProxyProtocolHeader} written first), then the relay. HBONE refusals are answered with an HTTP status (400, 401, 503); plaintext
 *       refusals close the socket.
 * </ol>
 *
 * <p>Every admitted connection is tracked so that a policy change re-evaluates it ({@link #reevaluate}). Threading:
 * the local-workload wait may complete on another thread, so the flow hops back to the connection's event loop; from
 * there on, everything (decision, upstream connect, relay) runs on that loop.
 */
public final class Inbound {
    private static final Logger log = LoggerFactory.getLogger(Inbound.class);
    private static final Logger authz = LoggerFactory.getLogger("authorization");
    private static final InetAddress LOOPBACK_V4 = NetUtil.LOCALHOST4;
    private static final InetAddress LOOPBACK_V6 = NetUtil.LOCALHOST6;
    private static final String DOWNSTREAM_GONE = "the client connection closed before the upstream connect";

    private final ProxyContext ctx;
    private final LocalWorkload local;
    private final Sockets sockets;
    private final boolean transparent;

    /** @param transparent whether upstream connects may bind the client's IP (the listeners got IP_TRANSPARENT) */
    public Inbound(ProxyContext ctx, LocalWorkload local, Sockets sockets, boolean transparent) {
        this.ctx = ctx;
        this.local = local;
        this.sockets = sockets;
        this.transparent = transparent;
    }

    /** Serves an HBONE CONNECT (15008). Called on the stream's event loop. */
    public void hbone(InboundStream stream) {
        InboundRequest request = stream.request();
        String forwardedNetwork = request.header(HboneHeaders.X_FORWARDED_NETWORK.toString());
        boolean sourceOnThisNetwork = forwardedNetwork == null
                || forwardedNetwork.equalsIgnoreCase(ctx.config().network());
        // Upstream's span for one inbound request: the client's trace id and the HBONE connection's peer.
        LogSpan span =
                LogSpan.inbound(local.proxySpan(), request.headers().get(HboneHeaders.TRACEPARENT), request.peer());
        stream.logSpan(span);
        HboneDownstream down = new HboneDownstream(stream, span);
        admit(down, workload -> hboneLookups(down, request, workload, sourceOnThisNetwork), (state, workload) -> {
            InboundResolver.Result resolved =
                    ctx.inboundResolver().resolve(state, workload, request.local(), request.target());
            return switch (resolved) {
                case InboundResolver.Failure f -> new Refusal(f.status(), f.reason());
                case InboundResolver.Target t -> {
                    // Came through a network gateway: the peer IP is the gateway's, not the client's workload.
                    boolean fromGateway = !sourceOnThisNetwork;
                    yield new Target(
                            t.upstream(),
                            guessService(request, t),
                            request.target().authority(),
                            !fromGateway,
                            fromGateway && !ctx.config().responseBaggage() ? null : request.baggage(),
                            appTunnel(t),
                            request.forwardedHost());
                }
            };
        });
    }

    /**
     * Serves a plaintext connection captured by the inbound redirect (15006). {@code downstream} has reads off and a
     * {@link PendingInput}. Called on its event loop.
     */
    public void plaintext(Channel downstream, InetSocketAddress destination) {
        PlaintextDownstream down = new PlaintextDownstream(downstream, destination, local.proxySpan());
        if (ctx.config().illegalPorts().contains(destination.getPort())) {
            refuse(down, null, HttpResponseStatus.BAD_REQUEST, illegalPort(destination.getPort()));
            return;
        }
        admit(
                down,
                workload -> List.of(sourceAddress(down)),
                (state, workload) -> new Target(
                        destination,
                        state.servicesOf(workload).stream().findFirst().orElse(null),
                        null,
                        true,
                        null,
                        null,
                        null));
    }

    /**
     * The PROXY application tunnel of a resolved HBONE target, or null: with {@code LOCALHOST_APP_TUNNEL} (the
     * default) the app is reached on the pod's loopback of the target's family, else on the pod IP as usual.
     */
    private @Nullable AppTunnel appTunnel(InboundResolver.Target t) {
        InetSocketAddress destination = t.proxyDestination();
        if (destination == null) {
            return null;
        }
        if (!ctx.config().upstream().localhostAppTunnel()) {
            return new AppTunnel(destination, null);
        }
        InetAddress podIp = Addresses.canonical(t.upstream().getAddress());
        InetAddress loopback = podIp instanceof Inet6Address ? LOOPBACK_V6 : LOOPBACK_V4;
        return new AppTunnel(
                destination, new InetSocketAddress(loopback, t.upstream().getPort()));
    }

    private static String illegalPort(int port) {
        return "call to a ztunnel port (" + port + ") refused";
    }

    /**
     * The addresses an HBONE connection looks up, which on-demand xDS asks for when missing: the authority's IP when it
     * is not the IP the connection arrived on (the check that we are its waypoint), then the client's IP unless it came
     * through a network gateway.
     */
    private List<NetworkAddress> hboneLookups(
            Downstream down, InboundRequest request, Workload workload, boolean sourceOnThisNetwork) {
        List<NetworkAddress> lookups = new ArrayList<>(2);
        if (request.target() instanceof HboneAddress.Ip ip && workload.applicationTunnel() == null) {
            InetAddress authorityIp = Addresses.canonical(ip.address().getAddress());
            if (!authorityIp.equals(Addresses.canonical(request.local().getAddress()))) {
                lookups.add(new NetworkAddress(ctx.config().network(), authorityIp));
            }
        }
        if (sourceOnThisNetwork) {
            lookups.add(sourceAddress(down));
        }
        return lookups;
    }

    private NetworkAddress sourceAddress(Downstream down) {
        return new NetworkAddress(
                ctx.config().network(), Addresses.canonical(down.peer().getAddress()));
    }

    /**
     * Waits for the local workload, has the addresses the connection looks up fetched ({@link StateStore#fetch}: with
     * on-demand xDS, missing ones are asked for one after the other), resolves the target the path's way, then admits
     * on the connection's loop.
     */
    private void admit(Downstream down, Function<Workload, List<NetworkAddress>> lookups, Resolver resolver) {
        local.get()
                .whenComplete((workload, error) -> down.eventLoop().execute(() -> {
                    if (error != null) {
                        refuse(
                                down,
                                null,
                                HttpResponseStatus.SERVICE_UNAVAILABLE,
                                "local workload not found: " + Errors.message(error));
                        return;
                    }
                    fetchThen(down, workload, lookups.apply(workload), 0, () -> {
                        ProxyState state = ctx.state().current();
                        switch (resolver.resolve(state, workload)) {
                            case Refusal r -> refuse(down, workload, r.status(), r.reason());
                            case Target t -> admit(down, state, workload, t);
                        }
                    });
                }));
    }

    /** Fetches {@code addresses[i..]} in order, then runs {@code then} on the connection's loop. */
    private void fetchThen(Downstream down, Workload workload, List<NetworkAddress> addresses, int i, Runnable then) {
        if (i == addresses.size()) {
            then.run();
            return;
        }
        CompletableFuture<ProxyState> fetched = ctx.state().fetch(addresses.get(i));
        if (fetched.isDone()) {
            fetchThen(down, workload, addresses, i + 1, then);
            return;
        }
        fetched.whenComplete((state, error) -> down.eventLoop().execute(() -> {
            if (!down.isActive()) {
                refuse(
                        down,
                        workload,
                        HttpResponseStatus.SERVICE_UNAVAILABLE,
                        "the client connection closed while address " + addresses.get(i) + " was asked for");
                return;
            }
            fetchThen(down, workload, addresses, i + 1, then);
        }));
    }

    /** The admission path both inbound listeners share: authorize, record, connect upstream, relay. */
    private void admit(Downstream down, ProxyState state, Workload destination, Target target) {
        InetSocketAddress upstream = target.upstream();
        InetAddress peerIp = Addresses.canonical(down.peer().getAddress());
        InetAddress upstreamIp = Addresses.canonical(upstream.getAddress());
        Authorizer.Connection connection =
                new Authorizer.Connection(peerIp, down.peerIdentity(), upstreamIp, upstream.getPort());
        Authorizer.Decision decision = authorize(state, destination, connection, down.logSpan());
        Workload sourceWorkload = target.sourceOnThisNetwork()
                ? state.workloadByAddress(new NetworkAddress(ctx.config().network(), peerIp))
                : null;
        // Identities are known (and logged) only on mutual-TLS connections.
        SpiffeId destinationIdentity = down.peerIdentity() != null ? destination.identity() : null;
        ConnectionRecord record = ConnectionRecord.builder(
                        Direction.INBOUND, local.info().toString())
                .source(down.peer(), sourceWorkload, down.peerIdentity())
                .sourceBaggage(target.sourceBaggage())
                .destination(down.local(), destination, target.service(), destinationIdentity)
                .hboneTarget(target.hboneTarget())
                .forwardedHost(target.forwardedHost())
                .authorization(connection, decision.reason())
                .logSpan(down.logSpan())
                .open(ctx.connections(), ctx.telemetry());
        if (!decision.allowed()) {
            record.deny("connection closed due to policy rejection: " + decision.reason());
            down.refuse(HttpResponseStatus.UNAUTHORIZED, decision.reason());
            return;
        }
        if (!down.isActive()) {
            record.closed(new IllegalStateException(DOWNSTREAM_GONE));
            return;
        }
        AppTunnel tunnel = target.appTunnel();
        InetSocketAddress loopback = tunnel == null ? null : tunnel.loopback();
        InetSocketAddress dialed = loopback != null ? loopback : upstream;
        Baggage responseBaggage = ctx.config().responseBaggage() ? Outbound.baggage(destination) : null;
        ChannelFuture dial;
        if (loopback != null) {
            // The app sees the loopback address on both ends; the client's address travels in the PROXY header.
            dial = sockets.connector().connectBound(down.eventLoop(), loopback, loopback.getAddress());
        } else {
            InetAddress spoof = transparent && !peerIp.equals(upstreamIp) ? peerIp : null;
            dial = sockets.connector().connect(down.eventLoop(), upstream, spoof, null);
        }
        // A client that leaves while we dial takes the dial with it.
        ChannelFutureListener cancel = closed -> dial.channel().close();
        down.closeFuture().addListener(cancel);
        dial.addListener((ChannelFutureListener) f -> {
            down.closeFuture().removeListener(cancel);
            if (!down.isActive()) {
                f.channel().close();
                record.closed(new IllegalStateException(DOWNSTREAM_GONE));
                return;
            }
            if (!f.isSuccess()) {
                log.atDebug()
                        .addKeyValue("upstream", LogValues.address(dialed))
                        .addKeyValue("error", Errors.message(f.cause()))
                        .addKeyValue(LogSpan.KEY, down.logSpan())
                        .log("inbound upstream connect failed");
                record.closed(f.cause());
                down.refuse(
                        HttpResponseStatus.SERVICE_UNAVAILABLE,
                        "upstream connect failed: " + Errors.message(f.cause()));
                return;
            }
            Channel accepted = down.accept(responseBaggage);
            if (tunnel != null) {
                // After the 200, before any payload: the relay replays early DATA only once it starts.
                Channel app = f.channel();
                app.writeAndFlush(ProxyProtocolHeader.encode(
                        app.alloc(), down.peer(), tunnel.destination(), down.peerIdentity()));
            }
            Relay.start(accepted, f.channel(), record);
        });
    }

    /** Refused before admission: a {@code connection failed} access log line, then the path's refusal. */
    private static void refuse(
            Downstream down, @Nullable Workload destination, HttpResponseStatus status, String reason) {
        AccessLog.failed(Direction.INBOUND, down.peer(), down.local(), reason);
        down.refuse(status, reason);
    }

    /**
     * The destination service for telemetry, guessed as ztunnel does: the {@code forwarded host=} hint if it is one of
     * the workload's services, else the first of them whose target port is the port connected to.
     */
    private static @Nullable Service guessService(InboundRequest request, InboundResolver.Target target) {
        String hint = request.forwardedHost();
        if (hint != null) {
            for (Service s : target.services()) {
                if (s.hostname().equals(hint)) {
                    return s;
                }
            }
        }
        int port = target.upstream().getPort();
        for (Service s : target.services()) {
            if (s.ports().containsValue(port)) {
                return s;
            }
        }
        return null;
    }

    private Authorizer.Decision authorize(
            ProxyState state, Workload destination, Authorizer.Connection c, @Nullable LogSpan span) {
        Authorizer.Decision decision = Authorizer.evaluate(state, destination, c);
        var line = ctx.config().authzPolicyInfoLogging() ? authz.atInfo() : authz.atDebug();
        line.addKeyValue("src.addr", c.sourceIp().getHostAddress())
                .addKeyValue("src.identity", c.sourceIdentity())
                .addKeyValue("dst.workload", destination.uid())
                .addKeyValue("dst.port", c.destinationPort())
                .addKeyValue("allowed", decision.allowed())
                .addKeyValue(LogSpan.KEY, span)
                .log(decision.reason());
        return decision;
    }

    /** Re-checks tracked inbound connections after a policy change; closes the ones now denied. */
    public static void reevaluate(ProxyState state, ConnectionTracker tracker) {
        for (ConnectionRecord r : tracker.snapshot()) {
            if (r.direction() != Direction.INBOUND
                    || r.authorizationInput() == null
                    || r.destinationWorkload() == null) {
                continue;
            }
            Workload current = state.workload(r.destinationWorkload().uid());
            Workload destination = current != null ? current : r.destinationWorkload();
            Authorizer.Decision decision = Authorizer.evaluate(state, destination, r.authorizationInput());
            if (!decision.allowed()) {
                r.abort("connection closed due to policy change: " + decision.reason(), ResponseFlags.DENY);
            }
        }
    }

    /** Where an admitted connection goes, or why not, as the path that received it determined. */
    private sealed interface Resolution permits Target, Refusal {}

    /**
     * @param hboneTarget the CONNECT authority, for HBONE
     * @param sourceOnThisNetwork whether the peer's IP names its workload (not when it came through a gateway)
     * @param sourceBaggage the {@code baggage} the client sent, for HBONE
     * @param forwardedHost the {@code Forwarded} header's {@code host=} (from a waypoint), for HBONE
     */
    private record Target(
            InetSocketAddress upstream,
            @Nullable Service service,
            @Nullable String hboneTarget,
            boolean sourceOnThisNetwork,
            @Nullable Baggage sourceBaggage,
            @Nullable AppTunnel appTunnel,
            @Nullable String forwardedHost)
            implements Resolution {}

    /**
     * A {@code PROXY} application tunnel: the header's destination, and the pod-loopback address to dial instead of
     * the pod IP (null: the pod IP, spoofing the client as usual).
     */
    private record AppTunnel(
            InetSocketAddress destination, @Nullable InetSocketAddress loopback) {}

    private record Refusal(HttpResponseStatus status, String reason) implements Resolution {}

    @FunctionalInterface
    private interface Resolver {
        Resolution resolve(ProxyState state, Workload local);
    }

    /** A connection for the local workload, as the admission path sees it. All methods on its event loop. */
    private interface Downstream {
        EventLoop eventLoop();

        /** The client (or waypoint, or gateway) end. */
        InetSocketAddress peer();

        /** The address it was addressed to: the HBONE listener's, or the original destination. */
        InetSocketAddress local();

        /** The peer's SPIFFE identity when it came over mutual TLS. */
        @Nullable
        SpiffeId peerIdentity();

        boolean isActive();

        ChannelFuture closeFuture();

        /** Refuses the connection: HBONE answers {@code status}; a plaintext socket is closed. */
        void refuse(HttpResponseStatus status, String reason);

        /** The channel to relay from, once the upstream is connected. */
        Channel accept(@Nullable Baggage responseBaggage);

        /** The span of the connection's log lines. */
        @Nullable
        LogSpan logSpan();
    }

    private record HboneDownstream(InboundStream stream, LogSpan logSpan) implements Downstream {
        @Override
        public EventLoop eventLoop() {
            return stream.eventLoop();
        }

        @Override
        public InetSocketAddress peer() {
            return stream.request().peer();
        }

        @Override
        public InetSocketAddress local() {
            return stream.request().local();
        }

        @Override
        public SpiffeId peerIdentity() {
            return stream.request().peerIdentity();
        }

        @Override
        public boolean isActive() {
            return stream.isActive();
        }

        @Override
        public ChannelFuture closeFuture() {
            return stream.closeFuture();
        }

        @Override
        public void refuse(HttpResponseStatus status, String reason) {
            stream.reject(status, reason);
        }

        @Override
        public Channel accept(@Nullable Baggage responseBaggage) {
            return stream.accept(responseBaggage);
        }
    }

    /** @param logSpan the proxy's span: upstream gives a plaintext connection no span of its own */
    private record PlaintextDownstream(
            Channel channel,
            InetSocketAddress local,
            @Nullable LogSpan logSpan) implements Downstream {
        @Override
        public EventLoop eventLoop() {
            return channel.eventLoop();
        }

        @Override
        public InetSocketAddress peer() {
            return (InetSocketAddress) channel.remoteAddress();
        }

        @Override
        public @Nullable SpiffeId peerIdentity() {
            return null;
        }

        @Override
        public boolean isActive() {
            return channel.isActive();
        }

        @Override
        public ChannelFuture closeFuture() {
            return channel.closeFuture();
        }

        @Override
        public void refuse(HttpResponseStatus status, String reason) {
            channel.close();
        }

        @Override
        public Channel accept(@Nullable Baggage responseBaggage) {
            return channel;
        }
    }
}
