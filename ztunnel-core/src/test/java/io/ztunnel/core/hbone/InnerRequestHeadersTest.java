package io.ztunnel.core.hbone;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import io.ztunnel.core.identity.SpiffeId;
import java.net.InetSocketAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The two CONNECTs of a double-HBONE tunnel: the same authority and headers, the inner one naming our network. */
class InnerRequestHeadersTest {
    private static final SpiffeId CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/client/sa/client");
    private final InetSocketAddress gateway = new InetSocketAddress("172.16.0.10", 15008);
    private final HboneRequest outer = new HboneRequest(
            new PoolKey(
                    CLIENT,
                    List.of(SpiffeId.parse("spiffe://cluster.local/ns/istio-system/sa/gateway")),
                    gateway,
                    new InetSocketAddress("10.0.1.1", 0).getAddress()),
            "web.ns.svc.cluster.local:80",
            new InetSocketAddress("10.0.1.1", 40000),
            "web.ns.svc.cluster.local",
            new Baggage("Kubernetes", "client", "pod", "client", "", "", "", ""));

    private static Http2Headers headers(HboneRequest request) {
        Http2Headers headers = new DefaultHttp2Headers();
        request.addHeaders(headers);
        return headers;
    }

    @Test
    void innerConnectRepeatsTheOuterHeadersAndAddsTheSourceNetwork() {
        HboneRequest inner = outer.inner(
                new PoolKey(
                        CLIENT,
                        List.of(SpiffeId.parse("spiffe://cluster.local/ns/ns/sa/web")),
                        gateway,
                        new InetSocketAddress("10.0.1.1", 0).getAddress()),
                "net-a");
        Http2Headers o = headers(outer);
        Http2Headers i = headers(inner);
        assertThat(o.get(HboneHeaders.X_FORWARDED_NETWORK)).isNull();
        assertThat(i.get(HboneHeaders.X_FORWARDED_NETWORK)).hasToString("net-a");
        for (CharSequence name : List.of(HboneHeaders.TRACEPARENT, HboneHeaders.FORWARDED, HboneHeaders.BAGGAGE)) {
            assertThat(i.get(name)).as(name.toString()).hasToString(o.get(name).toString());
        }
        assertThat(o.get(HboneHeaders.FORWARDED)).hasToString("for=\"10.0.1.1:40000\";host=web.ns.svc.cluster.local");
        assertThat(inner.authority()).isEqualTo(outer.authority());
        assertThat(inner.key().expectedIdentities())
                .containsExactly(SpiffeId.parse("spiffe://cluster.local/ns/ns/sa/web"));
    }

    @Test
    void separateRequestsGetTheirOwnTraceParent() {
        HboneRequest other = new HboneRequest(
                outer.key(), outer.authority(), outer.client(), outer.serviceHost(), outer.sourceBaggage());
        assertThat(headers(other).get(HboneHeaders.TRACEPARENT))
                .isNotEqualTo(headers(outer).get(HboneHeaders.TRACEPARENT));
    }
}
