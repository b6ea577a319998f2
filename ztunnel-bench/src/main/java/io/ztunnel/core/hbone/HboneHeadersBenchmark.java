package io.ztunnel.core.hbone;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Headers;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.net.HboneAddress;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * HBONE CONNECT headers: building the request as the pool does (authority, {@code forwarded}, {@code baggage}, a fresh
 * {@code traceparent}), HPACK-encoding it, and on the server side decoding it and parsing what the server reads
 * (authority, baggage, forwarded host). Lives in the {@code hbone} package to reach the package-private pieces the
 * daemon uses.
 */
@Fork(
        value = 1,
        jvmArgsAppend = {"-XX:+UseCompactObjectHeaders", "-Xmx1g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class HboneHeadersBenchmark {
    private HboneRequest request;
    private DefaultHttp2HeadersEncoder encoder;
    private DefaultHttp2HeadersDecoder decoder;
    private ByteBuf wire;
    private Http2Headers built;

    @Setup
    public void setup() throws Exception {
        InetAddress src = InetAddress.getByName("10.1.2.3");
        InetAddress dst = InetAddress.getByName("10.4.5.6");
        request = new HboneRequest(
                new PoolKey(
                        new SpiffeId("cluster.local", "apps", "client"),
                        List.of(new SpiffeId("cluster.local", "apps", "server")),
                        new InetSocketAddress(dst, 15008),
                        src),
                "10.4.5.6:8080",
                new InetSocketAddress(src, 41234),
                "web.apps.svc.cluster.local",
                new Baggage("Kubernetes", "apps", "deployment", "client", "client", "v1", "", ""));
        encoder = new DefaultHttp2HeadersEncoder();
        decoder = new DefaultHttp2HeadersDecoder(true);
        wire = UnpooledByteBufAllocator.DEFAULT.heapBuffer(1024);
        built = build();
    }

    private Http2Headers build() {
        Http2Headers headers = new DefaultHttp2Headers().method("CONNECT").authority(request.authority());
        request.addHeaders(headers);
        return headers;
    }

    @Benchmark
    public Http2Headers buildRequest() {
        return build();
    }

    @Benchmark
    public void buildAndEncode(Blackhole bh) throws Exception {
        wire.clear();
        encoder.encodeHeaders(3, build(), wire);
        bh.consume(wire.readableBytes());
    }

    @Benchmark
    public void decodeAndParse(Blackhole bh) throws Exception {
        wire.clear();
        encoder.encodeHeaders(3, built, wire);
        Http2Headers h = decoder.decodeHeaders(3, wire);
        bh.consume(HboneAddress.parse(h.authority()));
        bh.consume(Baggage.parse(h.get(HboneHeaders.BAGGAGE)));
        bh.consume(Forwarded.host(h.get(HboneHeaders.FORWARDED)));
    }
}
