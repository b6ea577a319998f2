package io.ztunnel.core.proxy;

import io.netty.channel.EventLoopGroup;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.net.TcpKeepalive;
import io.ztunnel.core.net.Transport;
import io.ztunnel.core.routing.InboundResolver;
import io.ztunnel.core.routing.OutboundRouter;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.core.util.Drain;
import java.util.concurrent.ScheduledExecutorService;

/**
 * What every proxy of the daemon shares: configuration, the data-plane event loops, the state, certificates,
 * routing, connection tracking and connection telemetry (metrics). Immutable holder; the parts are thread-safe.
 *
 * @param drain the daemon's graceful drain: proxies stop accepting when it starts
 * @param timer a control-plane timer (never a data-plane loop) for waits such as the local-workload lookup
 */
public record ProxyContext(
        Config config,
        Transport transport,
        EventLoopGroup dataPlane,
        StateStore state,
        CertificateManager certificates,
        OutboundRouter outboundRouter,
        InboundResolver inboundResolver,
        ConnectionTracker connections,
        ConnectionTelemetry telemetry,
        Drain drain,
        ScheduledExecutorService timer) {

    /** The keepalive and user timeout of the proxies' sockets, from {@code KEEPALIVE_*} and {@code USER_TIMEOUT_ENABLED}. */
    public TcpKeepalive keepalive() {
        Config.SocketConfig s = config.socketConfig();
        return new TcpKeepalive(
                s.keepaliveEnabled(),
                s.keepaliveTime(),
                s.keepaliveInterval(),
                s.keepaliveRetries(),
                s.userTimeoutEnabled());
    }
}
