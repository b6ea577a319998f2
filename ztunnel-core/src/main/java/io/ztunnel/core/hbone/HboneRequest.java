package io.ztunnel.core.hbone;

import io.netty.handler.codec.http2.Http2Headers;
import java.net.InetSocketAddress;
import org.jspecify.annotations.Nullable;

/**
 * One CONNECT to send over an HBONE connection. Immutable.
 *
 * @param key which pooled connections may carry it (for the inner CONNECT of a double-HBONE tunnel, which is never
 *     pooled: the source identity and the identities the far end may present)
 * @param authority the {@code :authority}, e.g. {@code 10.0.0.5:8080} (the pod and target port after load balancing)
 * @param client the downstream client's address, for the {@code forwarded} header
 * @param serviceHost the destination service host name for {@code forwarded}'s {@code host=}, or {@code null}
 * @param sourceBaggage the source workload's metadata, or {@link Baggage#EMPTY}
 * @param traceParent the {@code traceparent} value (both CONNECTs of a double-HBONE tunnel send the same one)
 * @param forwardedNetwork the source's network for {@code x-forwarded-network} (inner CONNECTs only), or null
 */
public record HboneRequest(
        PoolKey key,
        String authority,
        InetSocketAddress client,
        @Nullable String serviceHost,
        Baggage sourceBaggage,
        String traceParent,
        @Nullable String forwardedNetwork) {

    /** A request with a fresh {@code traceparent} and no {@code x-forwarded-network}. */
    public HboneRequest(
            PoolKey key,
            String authority,
            InetSocketAddress client,
            @Nullable String serviceHost,
            Baggage sourceBaggage) {
        this(key, authority, client, serviceHost, sourceBaggage, TraceParent.random(), null);
    }

    /**
     * The inner CONNECT of a double-HBONE tunnel whose outer CONNECT is this one: the same authority and headers,
     * plus {@code x-forwarded-network: <network>}.
     *
     * @param innerKey the source identity and the identities the far end may present
     */
    public HboneRequest inner(PoolKey innerKey, String network) {
        return new HboneRequest(innerKey, authority, client, serviceHost, sourceBaggage, traceParent, network);
    }

    /**
     * Adds ztunnel's request headers: {@code forwarded}, {@code baggage} (when non-empty), {@code traceparent}, and
     * {@code x-forwarded-network} when set.
     */
    void addHeaders(Http2Headers headers) {
        headers.set(HboneHeaders.FORWARDED, Forwarded.encode(client, serviceHost));
        String baggage = sourceBaggage == null ? "" : sourceBaggage.encode();
        if (!baggage.isEmpty()) {
            headers.set(HboneHeaders.BAGGAGE, baggage);
        }
        headers.set(HboneHeaders.TRACEPARENT, traceParent);
        if (forwardedNetwork != null) {
            headers.set(HboneHeaders.X_FORWARDED_NETWORK, forwardedNetwork);
        }
    }
}
