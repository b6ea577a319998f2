package io.ztunnel.core.hbone;

import io.netty.handler.codec.http.HttpResponseStatus;
import io.ztunnel.core.net.ChannelConnector;
import io.ztunnel.core.net.ConnectionObserver;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/** What the {@link InboundRouter} decided for an HBONE CONNECT. Immutable. */
public sealed interface InboundDecision {

    /**
     * Refuse the stream with {@code status} (400, 401 or 503 in ztunnel's table) and no body.
     *
     * @param reason why, for the log (e.g. the deciding policy)
     */
    record Reject(HttpResponseStatus status, String reason) implements InboundDecision {}

    /**
     * Connect to {@code upstream} and answer 200 once connected (503 if that fails within the connect timeout).
     *
     * @param spoofSource when non-null, the upstream socket is bound to this address (original-source preservation)
     * @param connector creates the upstream socket (in the destination pod's network namespace, with its mark)
     * @param responseBaggage the destination's metadata for the 200's {@code baggage} header, or {@code null}
     * @param observer receives the connection's life events (metrics, access log, policy tracking)
     */
    record Connect(
            InetSocketAddress upstream,
            InetAddress spoofSource,
            ChannelConnector connector,
            Baggage responseBaggage,
            ConnectionObserver observer)
            implements InboundDecision {}
}
