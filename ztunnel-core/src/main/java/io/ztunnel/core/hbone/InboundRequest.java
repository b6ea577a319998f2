package io.ztunnel.core.hbone;

import io.netty.handler.codec.http2.Http2Headers;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.net.HboneAddress;
import java.net.InetSocketAddress;
import org.jspecify.annotations.Nullable;

/**
 * An HBONE CONNECT received on the inbound server, as its {@link InboundStream} carries it.
 *
 * @param peerIdentity the client's SPIFFE identity (first SPIFFE URI SAN of its certificate)
 * @param peer the TCP peer of the HBONE connection (the client pod, a waypoint or a gateway)
 * @param local the address the HBONE connection was accepted on (the destination pod's IP and 15008)
 * @param target the parsed {@code :authority}
 * @param headers the request headers ({@code forwarded}, {@code baggage}, {@code traceparent}, ...)
 */
public record InboundRequest(
        SpiffeId peerIdentity,
        InetSocketAddress peer,
        InetSocketAddress local,
        HboneAddress target,
        Http2Headers headers) {

    public @Nullable String header(String name) {
        CharSequence value = headers.get(name);
        return value == null ? null : value.toString();
    }

    /** The {@code host=} hint of the {@code forwarded} header, or {@code null}. */
    public @Nullable String forwardedHost() {
        return Forwarded.host(headers.get(HboneHeaders.FORWARDED));
    }

    public Baggage baggage() {
        return Baggage.parse(headers.get(HboneHeaders.BAGGAGE));
    }
}
