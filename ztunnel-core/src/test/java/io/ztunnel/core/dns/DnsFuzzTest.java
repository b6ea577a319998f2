package io.ztunnel.core.dns;

import static io.ztunnel.core.state.Fixtures.ip;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.handler.codec.dns.DnsRecordType;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.proxy.LocalWorkload;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.core.state.Workload;
import io.ztunnel.metrics.ZtunnelMetrics;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fuzzes the DNS proxy's message handling ({@link DnsService#handle}) from both untrusted sides: the query a pod sends,
 * and the answer the upstream resolver gives for a forwarded one. Each input is a query (fuzzed bytes, or a
 * well-formed query for a fuzzed name, half of them for names the mesh answers) and the bytes a fake upstream
 * answers with (its ID set to the forwarded query's). Properties: a message shorter than a header is dropped, any other
 * gets exactly one reply within the upstream timeout, and that reply is a DNS response with the query's ID; no
 * exception escapes, the query buffer is released exactly once by its owner (paranoid leak detection reports any
 * other buffer), and nothing hangs. Longer runs: README "Reliability".
 */
class DnsFuzzTest {
    private static final Logger log = LoggerFactory.getLogger(DnsFuzzTest.class);
    private static final Duration UPSTREAM_TIMEOUT = Duration.ofMillis(500);
    private static final InetSocketAddress POD = new InetSocketAddress(ip("10.0.0.9"), 40000);
    private static final InetSocketAddress PROXY = new InetSocketAddress(ip("10.0.0.9"), 15053);
    private static final String[] MESH_NAMES = {
        "web.ns1.svc.cluster.local.", "web.ns1.", "web.", "web.ns1.svc.", "many.ns1.svc.cluster.local.", "client."
    };
    private static final AtomicLong executions = new AtomicLong();
    /** What went wrong on the event loop after an input's checks were done (seen by the next input). */
    private static final ConcurrentLinkedQueue<Throwable> anomalies = new ConcurrentLinkedQueue<>();

    private static EventLoopGroup group;
    private static ScheduledExecutorService timer;
    private static FakeUpstream upstream;
    private static DnsService service;

    /** Answers every query with {@link #answer}, its first two bytes replaced by the query's ID. */
    private static final class FakeUpstream implements AutoCloseable {
        final DatagramSocket socket = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        volatile byte[] answer = new byte[0];
        final Thread thread =
                Thread.ofPlatform().daemon(true).name("fuzz-dns-upstream").start(this::serve);

        FakeUpstream() throws SocketException {}

        private void serve() {
            byte[] buffer = new byte[65535];
            while (!socket.isClosed()) {
                DatagramPacket in = new DatagramPacket(buffer, buffer.length);
                try {
                    socket.receive(in);
                    byte[] out = answer.clone();
                    if (out.length >= 2 && in.getLength() >= 2) {
                        out[0] = buffer[0];
                        out[1] = buffer[1];
                    }
                    socket.send(new DatagramPacket(out, out.length, in.getSocketAddress()));
                } catch (IOException e) {
                    return; // closed
                }
            }
        }

        @Override
        public void close() {
            socket.close();
        }
    }

    @BeforeAll
    static void start() throws SocketException {
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        timer = Executors.newSingleThreadScheduledExecutor();
        upstream = new FakeUpstream();
        StateStore store = new StateStore();
        Service web = Service.builder("ns1", "web", "web.ns1.svc.cluster.local")
                .vips(List.of(new NetworkAddress("", ip("10.96.0.1"))))
                .ports(Map.of(80, 8080))
                .build();
        Service many = Service.builder("ns1", "many", "many.ns1.svc.cluster.local")
                .vips(IntStream.range(1, 61)
                        .mapToObj(i -> new NetworkAddress("", ip("10.97.0." + i)))
                        .toList())
                .build();
        Workload client = Workload.builder("Kubernetes//Pod/ns1/client")
                .name("client")
                .namespace("ns1")
                .serviceAccount("client")
                .addresses(List.of(ip("10.0.0.9")))
                .build();
        store.replace(ProxyState.of(List.of(client), List.of(web, many), List.of()));
        LocalWorkload local =
                new LocalWorkload(new Config.LocalWorkloadInfo("ns1", "client", "client"), "", store, timer);
        InetSocketAddress upstreamAddress = (InetSocketAddress) upstream.socket.getLocalSocketAddress();
        ResolvConf conf = new ResolvConf(List.of(upstreamAddress), List.of(), UPSTREAM_TIMEOUT, 1, false);
        service = new DnsService(
                new DnsResolver("cluster.local", true, "", DnsResolver.podSearchDomains("cluster.local")),
                new DnsForwarder(conf),
                DnsSockets.host(false, 0),
                local,
                store,
                new DnsTelemetry(ZtunnelMetrics.builder().build().dns()));
    }

    @AfterAll
    static void stop() throws InterruptedException {
        if (!anomalies.isEmpty()) {
            throw new AssertionError("after the last input", anomalies.peek());
        }
        log.atInfo()
                .addKeyValue("target", DnsFuzzTest.class.getSimpleName())
                .addKeyValue("executions", executions.get())
                .log("fuzz target finished");
        upstream.close();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
        timer.shutdownNow();
    }

    private static byte[] query(FuzzedDataProvider data) {
        return switch (data.consumeInt(0, 2)) {
            case 0 -> data.consumeBytes(data.consumeInt(0, 600));
            case 1 ->
                DnsTestWire.query(
                        data.consumeInt(0, 0xFFFF),
                        MESH_NAMES[data.consumeInt(0, MESH_NAMES.length - 1)],
                        DnsRecordType.valueOf(data.consumeInt(0, 300)),
                        data.consumeBoolean() ? 1232 : 0);
            default ->
                DnsTestWire.query(
                        data.consumeInt(0, 0xFFFF),
                        data.consumeString(300),
                        DnsRecordType.valueOf(data.consumeInt(0, 300)),
                        data.consumeBoolean() ? 1232 : 0);
        };
    }

    @FuzzTest(maxDuration = "10m")
    void answersEveryQueryOnce(FuzzedDataProvider data) throws Exception {
        executions.incrementAndGet();
        Throwable earlier = anomalies.poll();
        if (earlier != null) {
            throw new AssertionError("after an earlier input", earlier);
        }
        byte[] query;
        try {
            query = query(data);
        } catch (RuntimeException e) {
            return; // the test's own encoder refused the name (label too long, not IDN-convertible)
        }
        upstream.answer = data.consumeRemainingAsBytes();

        EventLoop loop = group.next();
        ByteBuf message = Unpooled.wrappedBuffer(query);
        CompletableFuture<byte[]> reply = new CompletableFuture<>();
        loop.submit(() -> {
                    try {
                        service.handle(
                                message,
                                DnsService.Protocol.UDP,
                                POD,
                                PROXY,
                                loop,
                                PooledByteBufAllocator.DEFAULT,
                                r -> {
                                    try {
                                        if (!reply.complete(ByteBufUtil.getBytes(r))) {
                                            anomalies.add(new AssertionError("a second reply to one query"));
                                        }
                                    } finally {
                                        r.release();
                                    }
                                });
                    } finally {
                        message.release(); // the caller owns the query, as DnsServer does
                    }
                })
                .get(10, TimeUnit.SECONDS);

        if (query.length < DnsWire.HEADER_BYTES) {
            return; // dropped: nothing to answer to
        }
        byte[] response;
        try {
            response = reply.get(UPSTREAM_TIMEOUT.toMillis() * 4 + 2000, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError("no reply to a " + query.length + "-byte query", e);
        } catch (ExecutionException e) {
            throw new AssertionError(e.getCause());
        }
        if (response.length < DnsWire.HEADER_BYTES) {
            throw new AssertionError("reply shorter than a DNS header: " + response.length + " bytes");
        }
        if (response[0] != query[0] || response[1] != query[1]) {
            throw new AssertionError("reply ID differs from the query's");
        }
        if ((response[2] & 0x80) == 0) {
            throw new AssertionError("reply is not marked as a response");
        }
        DnsTestWire.decode(response); // the reply must itself be a decodable DNS message
    }
}
