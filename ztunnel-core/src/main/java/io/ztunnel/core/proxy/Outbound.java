package io.ztunnel.core.proxy;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.concurrent.Future;
import io.ztunnel.core.hbone.Baggage;
import io.ztunnel.core.hbone.HbonePool;
import io.ztunnel.core.hbone.HboneRequest;
import io.ztunnel.core.hbone.InnerHboneConnector;
import io.ztunnel.core.hbone.PoolKey;
import io.ztunnel.core.hbone.TraceParent;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.net.Addresses;
import io.ztunnel.core.net.HostResolver;
import io.ztunnel.core.net.Relay;
import io.ztunnel.core.net.Sockets;
import io.ztunnel.core.routing.Route;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import io.ztunnel.core.util.Errors;
import io.ztunnel.core.util.LogSpan;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import org.jspecify.annotations.Nullable;

/**
 * The outbound path of one proxy: for a captured (or SOCKS5) client connection and the destination it dialled, find
 * the source workload, route, and connect — HBONE through the pool, double HBONE through a network gateway, plain
 * TCP, or passthrough — then relay. A route that cannot be taken (unknown gateway, no identities to check) is an early
 * denial: a {@code connection failed} log line and no counters, as upstream.
 *
 * <p>Threading: {@link #proxy} is called on the client channel's event loop, with reads off; the relay runs on the
 * loop where both channels end up (the pool may move the client channel to its HTTP/2 connection's loop).
 */
public final class Outbound {
    private final ProxyContext ctx;
    private final LocalWorkload local;
    private final Sockets sockets;
    private final HbonePool pool;
    private final InnerHboneConnector inner;

    public Outbound(ProxyContext ctx, LocalWorkload local, Sockets sockets, HbonePool pool) {
        this.ctx = ctx;
        this.local = local;
        this.sockets = sockets;
        this.pool = pool;
        this.inner = new InnerHboneConnector(ctx.config().hbone(), ctx.certificates()::fetch);
    }

    /** Proxies {@code downstream} to {@code destination}. */
    public void proxy(Channel downstream, InetSocketAddress destination) {
        InetSocketAddress client = (InetSocketAddress) downstream.remoteAddress();
        local.get()
                .whenComplete((source, error) -> downstream.eventLoop().execute(() -> {
                    if (error != null) {
                        refuse(
                                downstream,
                                client,
                                destination,
                                null,
                                "unknown source workload: " + Errors.message(error));
                        return;
                    }
                    fetchThenRoute(downstream, client, destination, source);
                }));
    }

    /**
     * Routes in the state that knows the destination IP: with on-demand xDS, a destination no workload or service has
     * is first asked for as {@code network/ip} and the state read again when istiod answered (still unknown: it is
     * routed as any unknown destination, i.e. passthrough).
     */
    private void fetchThenRoute(
            Channel downstream, InetSocketAddress client, InetSocketAddress destination, Workload source) {
        NetworkAddress address = new NetworkAddress(source.network(), Addresses.canonical(destination.getAddress()));
        CompletableFuture<ProxyState> fetched = ctx.state().fetch(address);
        if (fetched.isDone()) {
            route(downstream, client, destination, source, fetched.join());
            return;
        }
        fetched.whenComplete((state, error) -> downstream.eventLoop().execute(() -> {
            if (!downstream.isActive()) {
                refuse(
                        downstream,
                        client,
                        destination,
                        null,
                        "the client connection closed while address " + address + " was asked for");
                return;
            }
            route(downstream, client, destination, source, ctx.state().current());
        }));
    }

    private void route(
            Channel downstream,
            InetSocketAddress client,
            InetSocketAddress destination,
            Workload source,
            ProxyState state) {
        Route route = ctx.outboundRouter().route(state, source, destination);
        switch (route) {
            case Route.Refuse r -> refuse(downstream, client, destination, null, r.reason());
            case Route.Passthrough p -> tcp(downstream, client, p.destination(), source, null, p.service());
            case Route.Direct d -> {
                if (d.hostname() != null) {
                    resolveThenTcp(downstream, client, d, d.hostname(), source);
                } else {
                    tcp(downstream, client, d.destination(), source, d.workload(), d.service());
                }
            }
            case Route.Hbone h -> hbone(downstream, client, destination, source, h);
            case Route.DoubleHbone d -> doubleHbone(downstream, client, source, d);
        }
    }

    private void tcp(
            Channel downstream,
            InetSocketAddress client,
            InetSocketAddress target,
            Workload source,
            @Nullable Workload destinationWorkload,
            @Nullable Service service) {
        // Plain TCP carries no identity: the source's is not presented, the destination's not checked.
        ConnectionRecord record = ConnectionRecord.builder(
                        Direction.OUTBOUND, local.info().toString())
                .source(client, source, null)
                .destination(target, destinationWorkload, service, null)
                .logSpan(LogSpan.outbound(local.proxySpan(), null))
                .open(ctx.connections(), ctx.telemetry());
        sockets.connector().connect(downstream.eventLoop(), target, null, null).addListener((ChannelFutureListener)
                f -> {
                    if (!f.isSuccess()) {
                        record.fail(
                                f.cause(),
                                "connect to " + Addresses.format(target) + " failed: " + Errors.message(f.cause()));
                        downstream.close();
                        return;
                    }
                    Relay.start(downstream, f.channel(), record);
                });
    }

    private void resolveThenTcp(
            Channel downstream, InetSocketAddress client, Route.Direct route, String hostname, Workload source) {
        HostResolver.resolve(hostname)
                .whenComplete((ips, error) -> downstream.eventLoop().execute(() -> {
                    if (error != null) {
                        refuse(
                                downstream,
                                client,
                                route.destination(),
                                route.workload(),
                                "cannot resolve " + hostname + ": " + Errors.message(error));
                        return;
                    }
                    InetAddress ip = ips.get(ThreadLocalRandom.current().nextInt(ips.size()));
                    tcp(
                            downstream,
                            client,
                            new InetSocketAddress(ip, route.destination().getPort()),
                            source,
                            route.workload(),
                            route.service());
                }));
    }

    private void hbone(
            Channel downstream,
            InetSocketAddress client,
            InetSocketAddress destination,
            Workload source,
            Route.Hbone route) {
        String traceParent = TraceParent.random(); // its trace id is the connection's id in log lines, as upstream
        HboneRequest request = new HboneRequest(
                new PoolKey(source.identity(), route.expectedIdentities(), route.hboneAddress(), client.getAddress()),
                route.authority(),
                client,
                route.service() == null ? null : route.service().hostname(),
                baggage(source),
                traceParent,
                null);
        // Through a waypoint, the destination labels name the waypoint, whether the traffic was service- or
        // workload-addressed (upstream's reporting; the service label keeps the original service, if any).
        Workload destinationWorkload =
                route.viaWaypoint() || route.destination() == null ? route.workload() : route.destination();
        SpiffeId expected = destinationWorkload.identity();
        ConnectionRecord record = ConnectionRecord.builder(
                        Direction.OUTBOUND, local.info().toString())
                .source(client, source, source.identity())
                .destination(route.hboneAddress(), destinationWorkload, route.service(), expected)
                .originalDestination(destination)
                .hboneTarget(route.authority())
                .logSpan(LogSpan.outbound(local.proxySpan(), traceParent))
                .open(ctx.connections(), ctx.telemetry());
        pool.connect(downstream, request).addListener((Future<Http2StreamChannel> f) -> {
            if (!f.isSuccess()) {
                record.fail(f.cause(), Errors.message(f.cause()));
                downstream.close();
                return;
            }
            Relay.start(downstream, f.getNow(), record);
        });
    }

    /**
     * Double HBONE: the outer CONNECT to the network gateway through the pool, then the inner connection and CONNECT
     * inside that stream ({@link InnerHboneConnector}), then the relay over the inner stream. The record is opened once
     * the outcome is known: on success with the far end's identity and the destination labels its response baggage
     * gave; on failure with the gateway as the destination.
     */
    private void doubleHbone(Channel downstream, InetSocketAddress client, Workload source, Route.DoubleHbone route) {
        String traceParent = TraceParent.random();
        HboneRequest outer = new HboneRequest(
                new PoolKey(source.identity(), route.gatewayIdentities(), route.gatewayAddress(), client.getAddress()),
                route.authority(),
                client,
                route.service().hostname(),
                baggage(source),
                traceParent,
                null);
        HboneRequest innerRequest = outer.inner(
                new PoolKey(source.identity(), route.innerIdentities(), route.gatewayAddress(), client.getAddress()),
                ctx.config().network());
        ConnectionRecord.Builder record = ConnectionRecord.builder(
                        Direction.OUTBOUND, local.info().toString())
                .source(client, source, source.identity())
                .hboneTarget(route.authority())
                .logSpan(LogSpan.outbound(local.proxySpan(), traceParent));
        pool.connect(downstream, outer).addListener((Future<Http2StreamChannel> f) -> {
            if (!f.isSuccess()) {
                failDoubleHbone(downstream, record, route, f.cause(), "network gateway: ");
                return;
            }
            inner.connect(f.getNow(), innerRequest).addListener((Future<InnerHboneConnector.Tunnel> t) -> {
                if (!t.isSuccess()) {
                    failDoubleHbone(downstream, record, route, t.cause(), "inner HBONE through network gateway: ");
                    return;
                }
                InnerHboneConnector.Tunnel tunnel = t.getNow();
                ConnectionRecord opened = record.destination(
                                route.gatewayAddress(), null, route.service(), tunnel.peerIdentity())
                        .destinationBaggage(tunnel.responseBaggage())
                        .open(ctx.connections(), ctx.telemetry());
                Relay.start(downstream, tunnel.stream(), opened);
            });
        });
    }

    private void failDoubleHbone(
            Channel downstream,
            ConnectionRecord.Builder record,
            Route.DoubleHbone route,
            Throwable cause,
            String layer) {
        record.destination(
                        route.gatewayAddress(),
                        route.gateway(),
                        route.service(),
                        route.innerIdentities().getFirst())
                .open(ctx.connections(), ctx.telemetry())
                .fail(cause, layer + Errors.message(cause));
        downstream.close();
    }

    private static void refuse(
            Channel downstream,
            InetSocketAddress client,
            InetSocketAddress destination,
            @Nullable Workload destinationWorkload,
            String reason) {
        AccessLog.failed(Direction.OUTBOUND, client, destination, reason);
        downstream.close();
    }

    /** The source workload's metadata for the {@code baggage} header. */
    public static Baggage baggage(Workload w) {
        return new Baggage(
                w.clusterId(),
                w.namespace(),
                w.workloadType().baggageName(),
                w.workloadName().isEmpty() ? w.name() : w.workloadName(),
                w.canonicalName(),
                w.canonicalRevision(),
                w.locality().region(),
                w.locality().zone());
    }
}
