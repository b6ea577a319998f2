package io.ztunnel.core.hbone;

import io.netty.handler.codec.http2.Http2Headers;
import java.net.InetSocketAddress;
import org.jspecify.annotations.Nullable;

/**
 * One CONNECT to send over a pooled HBONE connection. Immutable.
 *
 * @param key which pooled connections may carry it
 * @param authority the {@code :authority}, e.g. {@code 10.0.0.5:8080} (the pod and target port after load balancing)
 * @param client the downstream client's address, for the {@code forwarded} header
 * @param serviceHost the destination service host name for {@code forwarded}'s {@code host=}, or {@code null}
 * @param sourceBaggage the source workload's metadata, or {@link Baggage#EMPTY}
 */
public record HboneRequest(
        PoolKey key,
        String authority,
        InetSocketAddress client,
        @Nullable String serviceHost,
        Baggage sourceBaggage) {

    /** Adds ztunnel's request headers: {@code forwarded}, {@code baggage} (when non-empty), a fresh {@code traceparent}. */
    void addHeaders(Http2Headers headers) {
        if (client != null) {
            headers.set(HboneHeaders.FORWARDED, Forwarded.encode(client, serviceHost));
        }
        String baggage = sourceBaggage == null ? "" : sourceBaggage.encode();
        if (!baggage.isEmpty()) {
            headers.set(HboneHeaders.BAGGAGE, baggage);
        }
        headers.set(HboneHeaders.TRACEPARENT, TraceParent.random());
    }
}
