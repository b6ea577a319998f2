package io.ztunnel.core.proxy;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.ztunnel.core.hbone.Baggage;
import io.ztunnel.core.hbone.HboneHeaders;
import io.ztunnel.core.hbone.InboundDecision;
import io.ztunnel.core.hbone.InboundRequest;
import io.ztunnel.core.hbone.InboundRouter;
import io.ztunnel.core.net.Addresses;
import io.ztunnel.core.net.PendingInput;
import io.ztunnel.core.net.Relay;
import io.ztunnel.core.net.Sockets;
import io.ztunnel.core.rbac.Authorizer;
import io.ztunnel.core.routing.InboundResolver;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The inbound paths of one proxy, both ending at the local workload:
 *
 * <ul>
 *   <li>HBONE (as the {@link InboundRouter} of the 15008 server): destination validation and port mapping
 *       ({@link InboundResolver}), L4 authorization with the peer's identity (401 on deny), then a connection to the
 *       app from the client's IP when the proxy may spoof it, and a 200 with the destination's baggage.
 *   <li>Plaintext (15006): the original destination, illegal-port check, authorization without identity (deny closes
 *       the client connection), then the same upstream connect.
 * </ul>
 *
 * <p>Every admitted connection is tracked so that a policy change re-evaluates it. Threading: routing runs on the
 * accepting event loop; the local-workload wait may complete elsewhere, so continuations hop back to the loop.
 */
public final class Inbound implements InboundRouter {
    private static final Logger log = LoggerFactory.getLogger(Inbound.class);
    private static final Logger authz = LoggerFactory.getLogger("authorization");

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

    @Override
    public CompletionStage<InboundDecision> route(InboundRequest request) {
        return local.get().handle((workload, error) -> {
            if (error != null) {
                fail(request, null, "local workload not found: " + error.getMessage());
                return new InboundDecision.Reject(HttpResponseStatus.SERVICE_UNAVAILABLE, "local workload not found");
            }
            return decide(request, workload);
        });
    }

    private InboundDecision decide(InboundRequest request, Workload localWorkload) {
        ProxyState state = ctx.state().current();
        InboundResolver.Result resolved =
                ctx.inboundResolver().resolve(state, localWorkload, request.local(), request.target());
        if (resolved instanceof InboundResolver.Failure f) {
            fail(request, localWorkload, f.reason());
            return new InboundDecision.Reject(f.status(), f.reason());
        }
        InboundResolver.Target target = (InboundResolver.Target) resolved;
        InetSocketAddress upstream = target.upstream();
        InetAddress peerIp = Addresses.canonical(request.peer().getAddress());
        Authorizer.Connection connection =
                new Authorizer.Connection(peerIp, request.peerIdentity(), upstream.getAddress(), upstream.getPort());
        Authorizer.Decision decision = authorize(state, localWorkload, connection);
        String network = request.header(HboneHeaders.X_FORWARDED_NETWORK.toString());
        boolean fromGateway = network != null && !network.equals(ctx.config().network());
        Workload sourceWorkload = fromGateway
                ? null
                : state.workloadByAddress(new NetworkAddress(ctx.config().network(), peerIp));
        ConnectionRecord record = new ConnectionRecord(
                        local.info().toString(),
                        Direction.INBOUND,
                        request.peer(),
                        request.local(),
                        request.target().authority(),
                        request.peerIdentity(),
                        sourceWorkload,
                        localWorkload,
                        guessService(request, target),
                        localWorkload.identity(),
                        connection,
                        decision.reason(),
                        ctx.connections(),
                        ctx.connectionListener())
                .sourceBaggage(request.baggage());
        record.opened();
        if (!decision.allowed()) {
            record.fail(FailureFlag.DENY, "connection closed due to policy rejection: " + decision.reason());
            return new InboundDecision.Reject(HttpResponseStatus.UNAUTHORIZED, decision.reason());
        }
        InetAddress spoof = transparent && !peerIp.equals(upstream.getAddress()) ? peerIp : null;
        Baggage baggage = ctx.config().responseBaggage() ? Outbound.baggage(localWorkload) : null;
        return new InboundDecision.Connect(upstream, spoof, sockets.connector(), baggage, record);
    }

    /**
     * The destination service for telemetry, guessed as ztunnel does: the {@code forwarded host=} hint if it is one of
     * the workload's services, else the first of them whose target port is the port connected to.
     */
    private static Service guessService(InboundRequest request, InboundResolver.Target target) {
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

    private Authorizer.Decision authorize(ProxyState state, Workload destination, Authorizer.Connection c) {
        Authorizer.Decision decision = Authorizer.evaluate(state, destination, c);
        var line = ctx.config().authzPolicyInfoLogging() ? authz.atInfo() : authz.atDebug();
        line.addKeyValue("src.addr", c.sourceIp().getHostAddress())
                .addKeyValue("src.identity", c.sourceIdentity())
                .addKeyValue("dst.workload", destination.uid())
                .addKeyValue("dst.port", c.destinationPort())
                .addKeyValue("allowed", decision.allowed())
                .log(decision.reason());
        return decision;
    }

    private void fail(InboundRequest request, Workload localWorkload, String reason) {
        AccessLog.failed(
                Direction.INBOUND, request.peer(), request.local(), request.peerIdentity(), localWorkload, reason);
    }

    /**
     * Serves a plaintext connection captured by the inbound redirect (15006). {@code downstream} has reads off and a
     * {@link PendingInput}. Runs on its event loop.
     */
    public void plaintext(Channel downstream, InetSocketAddress destination) {
        InetSocketAddress client = (InetSocketAddress) downstream.remoteAddress();
        if (ctx.config().illegalPorts().contains(destination.getPort())) {
            AccessLog.failed(
                    Direction.INBOUND,
                    client,
                    destination,
                    null,
                    null,
                    "call to a ztunnel port (" + destination.getPort() + ") refused");
            downstream.close();
            return;
        }
        local.get()
                .whenComplete((workload, error) -> downstream.eventLoop().execute(() -> {
                    if (error != null) {
                        AccessLog.failed(
                                Direction.INBOUND,
                                client,
                                destination,
                                null,
                                null,
                                "local workload not found: " + error.getMessage());
                        downstream.close();
                        return;
                    }
                    ProxyState state = ctx.state().current();
                    InetAddress clientIp = Addresses.canonical(client.getAddress());
                    Authorizer.Connection connection = new Authorizer.Connection(
                            clientIp, null, Addresses.canonical(destination.getAddress()), destination.getPort());
                    Authorizer.Decision decision = authorize(state, workload, connection);
                    Workload sourceWorkload = state.workloadByAddress(
                            new NetworkAddress(ctx.config().network(), clientIp));
                    ConnectionRecord record = new ConnectionRecord(
                            local.info().toString(),
                            Direction.INBOUND,
                            client,
                            destination,
                            null,
                            null,
                            sourceWorkload,
                            workload,
                            state.servicesOf(workload).stream().findFirst().orElse(null),
                            null,
                            connection,
                            decision.reason(),
                            ctx.connections(),
                            ctx.connectionListener());
                    record.opened();
                    if (!decision.allowed()) {
                        record.fail(
                                FailureFlag.DENY, "connection closed due to policy rejection: " + decision.reason());
                        downstream.close();
                        return;
                    }
                    InetAddress spoof = transparent && !clientIp.equals(destination.getAddress()) ? clientIp : null;
                    sockets.connector()
                            .connect(downstream.eventLoop(), destination, spoof, null)
                            .addListener((ChannelFutureListener) f -> {
                                if (!f.isSuccess()) {
                                    log.atDebug()
                                            .addKeyValue("upstream", destination)
                                            .addKeyValue("error", f.cause().toString())
                                            .log("inbound plaintext connect failed");
                                    record.closed(f.cause());
                                    downstream.close();
                                    return;
                                }
                                Relay.start(downstream, f.channel(), record);
                            });
                }));
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
                r.abort("connection closed due to policy change: " + decision.reason(), FailureFlag.DENY);
            }
        }
    }
}
