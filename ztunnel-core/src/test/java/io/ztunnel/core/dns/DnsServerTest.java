package io.ztunnel.core.dns;

import static io.ztunnel.core.state.Fixtures.ip;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

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
import io.ztunnel.metrics.DnsMetrics;
import io.ztunnel.metrics.ExpositionFormat;
import io.ztunnel.metrics.ZtunnelMetrics;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * One DNS server on loopback (the daemon's own namespace, as in dedicated mode) in front of a fake upstream
 * resolver: what a client gets over UDP and TCP, what is forwarded, how failures look, and what bad input does.
 */
@Timeout(60)
class DnsServerTest {
    private final ZtunnelMetrics metrics =
            ZtunnelMetrics.builder().jvmMetrics(false).build();
    private final StateStore store = new StateStore();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    private EventLoopGroup group;
    private FakeUpstream upstream;
    private DnsServer server;
    private InetSocketAddress address;

    @BeforeEach
    void start() throws Exception {
        group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        upstream = new FakeUpstream(group);
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
                .canonicalName("client-app")
                .canonicalRevision("v1")
                .addresses(List.of(ip("10.0.0.9")))
                .build();
        store.replace(ProxyState.of(List.of(client), List.of(web, many), List.of()));
        server = start("client", Duration.ofSeconds(1));
        address = server.addresses().getFirst();
    }

    private DnsServer start(String workload, Duration upstreamTimeout) {
        LocalWorkload local =
                new LocalWorkload(new Config.LocalWorkloadInfo("ns1", workload, workload), "", store, timer);
        ResolvConf conf = new ResolvConf(List.of(upstream.address()), List.of(), upstreamTimeout, 1, false);
        DnsSockets sockets = DnsSockets.host(false, 0);
        DnsService service = new DnsService(
                new DnsResolver("cluster.local", true, "", DnsResolver.podSearchDomains("cluster.local")),
                new DnsForwarder(conf),
                sockets,
                local,
                store,
                new DnsTelemetry(metrics.dns()));
        return DnsServer.start(
                service, sockets, group, List.of(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0)));
    }

    @AfterEach
    void stop() throws Exception {
        if (server != null) {
            server.close();
        }
        upstream.close();
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).sync();
        timer.shutdownNow();
    }

    private byte @Nullable [] udpRaw(byte[] message) throws IOException {
        try (DatagramSocket s = new DatagramSocket()) {
            s.setSoTimeout(8000); // above the 5 s wait for an unknown workload
            s.send(new DatagramPacket(message, message.length, address));
            DatagramPacket in = new DatagramPacket(new byte[65535], 65535);
            try {
                s.receive(in);
            } catch (SocketTimeoutException e) {
                return null;
            }
            return Arrays.copyOf(in.getData(), in.getLength());
        }
    }

    private DnsTestWire.Msg udp(byte[] message) throws IOException {
        byte[] reply = udpRaw(message);
        assertThat(reply).as("a UDP reply").isNotNull();
        return DnsTestWire.decode(reply);
    }

    private DnsTestWire.Msg tcp(byte[] message) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(address, 5000);
            s.setSoTimeout(5000);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            out.writeShort(message.length);
            out.write(message);
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] reply = new byte[in.readUnsignedShort()];
            in.readFully(reply);
            return DnsTestWire.decode(reply);
        }
    }

    private static byte[] q(String name, DnsRecordType type) {
        return DnsTestWire.query(0x1234, name, type, -1);
    }

    private String scrape() {
        return metrics.scrape(ExpositionFormat.PROMETHEUS_TEXT);
    }

    @Test
    void serviceNamesAreAnsweredFromTheStateAuthoritativelyOverUdpAndTcp() throws Exception {
        for (boolean overTcp : new boolean[] {false, true}) {
            byte[] query = DnsTestWire.query(0x4242, "web.ns1.svc.cluster.local.", DnsRecordType.A, 1232);
            DnsTestWire.Msg r = overTcp ? tcp(query) : udp(query);
            assertThat(r.id()).isEqualTo(0x4242);
            assertThat(r.code()).isEqualTo("NoError(0)");
            assertThat(r.aa()).isTrue();
            assertThat(r.ra()).isTrue();
            assertThat(r.rd()).isTrue();
            assertThat(r.questions()).containsExactly("web.ns1.svc.cluster.local. A");
            assertThat(r.answers())
                    .containsExactly(
                            new DnsTestWire.Rec("web.ns1.svc.cluster.local.", DnsRecordType.A, 30, "10.96.0.1"));
            assertThat(r.additionals())
                    .as("EDNS echoed")
                    .singleElement()
                    .satisfies(opt -> assertThat(opt.type()).isEqualTo(DnsRecordType.OPT));
        }
        assertThat(upstream.udpQueries.get() + upstream.tcpQueries.get()).isZero();
        assertThat(scrape())
                .contains("istio_dns_requests_total{request_query_type=\"a\",request_protocol=\"udp\","
                        + "source_canonical_service=\"client-app\",source_canonical_revision=\"v1\"} 1")
                .contains("request_protocol=\"tcp\"");
    }

    @Test
    void aSearchDomainExpansionIsAnsweredWithACnameThenTheAddress() throws Exception {
        DnsTestWire.Msg r = udp(q("web.ns1.ns1.svc.cluster.local.", DnsRecordType.A));
        assertThat(r.answers())
                .containsExactly(
                        new DnsTestWire.Rec("web.ns1.ns1.svc.cluster.local.", DnsRecordType.CNAME, 30, "web.ns1."),
                        new DnsTestWire.Rec("web.ns1.", DnsRecordType.A, 30, "10.96.0.1"));
        DnsTestWire.Msg empty = udp(q("web.", DnsRecordType.AAAA));
        assertThat(empty.code()).isEqualTo("NoError(0)");
        assertThat(empty.aa()).isTrue();
        assertThat(empty.answers()).isEmpty();
    }

    @Test
    void unknownNamesAreForwardedWithAnswersAndAdditionalsButNoAuthority() throws Exception {
        DnsTestWire.Msg r = udp(q("ext.example.", DnsRecordType.A));
        assertThat(r.code()).isEqualTo("NoError(0)");
        assertThat(r.aa()).isFalse();
        assertThat(r.ra()).isTrue();
        assertThat(r.answers())
                .containsExactly(new DnsTestWire.Rec("ext.example.", DnsRecordType.A, 60, "203.0.113.7"));
        assertThat(r.authorities()).isEmpty();
        assertThat(r.additionals())
                .containsExactly(new DnsTestWire.Rec("ns.example.", DnsRecordType.A, 60, "203.0.113.53"));
        assertThat(upstream.seen).containsExactly("ext.example. A rd");
        // Other types for mesh names are forwarded too; names inside MX data survive the new message.
        DnsTestWire.Msg mx = tcp(q("mx.example.", DnsRecordType.MX));
        assertThat(mx.answers())
                .containsExactly(new DnsTestWire.Rec("mx.example.", DnsRecordType.MX, 60, "10 mail.mx.example."));
        assertThat(scrape())
                .contains("istio_dns_upstream_requests_total{request_query_type=\"a\",request_protocol=\"udp\"")
                .contains("istio_dns_upstream_requests_total{request_query_type=\"mx\",request_protocol=\"tcp\"")
                .contains("istio_dns_upstream_request_duration_seconds_count{request_query_type=\"a\"");
    }

    @Test
    void aTruncatedUpstreamAnswerIsFetchedOverTcpAndCutToTheClientsUdpLimit() throws Exception {
        DnsTestWire.Msg small = udp(DnsTestWire.query(7, "big.example.", DnsRecordType.A, 512));
        assertThat(upstream.udpQueries.get()).isEqualTo(1);
        assertThat(upstream.tcpQueries.get())
                .as("the forwarder retried over TCP")
                .isEqualTo(1);
        assertThat(small.tc()).as("512 bytes cannot hold 100 records").isTrue();
        assertThat(small.answers()).hasSizeBetween(1, 40);
        DnsTestWire.Msg full = tcp(DnsTestWire.query(8, "big.example.", DnsRecordType.A, 512));
        assertThat(full.tc()).isFalse();
        assertThat(full.answers()).hasSize(100);
        // A local answer is cut the same way: 60 VIPs in 512 bytes.
        DnsTestWire.Msg local = udp(DnsTestWire.query(9, "many.", DnsRecordType.A, 512));
        assertThat(local.tc()).isTrue();
        assertThat(tcp(q("many.", DnsRecordType.A)).answers()).hasSize(60);
    }

    @Test
    void upstreamNoRecordsGivesAnEmptyReplyWithItsCodeAndFailuresGiveServfail() throws Exception {
        DnsTestWire.Msg nx = udp(q("nx.example.", DnsRecordType.A));
        assertThat(nx.code()).isEqualTo("NXDomain(3)");
        assertThat(nx.answers()).isEmpty();
        assertThat(nx.authorities()).as("no SOA").isEmpty();
        assertThat(nx.questions()).containsExactly("nx.example. A");
        DnsTestWire.Msg nodata = udp(q("nodata.example.", DnsRecordType.A));
        assertThat(nodata.code()).isEqualTo("NoError(0)");
        assertThat(nodata.answers()).isEmpty();
        assertThat(udp(q("fail.example.", DnsRecordType.A)).code()).isEqualTo("ServFail(2)");
        long start = System.nanoTime();
        assertThat(udp(q("slow.example.", DnsRecordType.A)).code()).isEqualTo("ServFail(2)");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
        assertThat(scrape())
                .contains("istio_dns_upstream_failures_total{request_query_type=\"a\",request_protocol=\"udp\","
                        + "source_canonical_service=\"client-app\",source_canonical_revision=\"v1\"} 4");
    }

    @Test
    void aQueryFromAnUnknownWorkloadGetsServfailAfterTheWait() throws Exception {
        server.close();
        server = start("stranger", Duration.ofSeconds(1));
        address = server.addresses().getFirst();
        DnsTestWire.Msg r = udp(q("web.", DnsRecordType.A));
        assertThat(r.code()).isEqualTo("ServFail(2)");
        assertThat(scrape())
                .contains("istio_dns_requests_total{request_query_type=\"a\",request_protocol=\"udp\","
                        + "source_canonical_service=\"unknown\",source_canonical_revision=\"unknown\"} 1");
    }

    @Test
    void badMessagesGetFormerrNotimpOrAreDroppedAndCounted() throws Exception {
        // Shorter than a header: no id to answer with.
        assertThat(udpRaw(new byte[] {1, 2, 3})).isNull();
        assertThat(metrics.dns().droppedCount(DnsMetrics.DropReason.MALFORMED)).isEqualTo(1);

        byte[] good = q("web.", DnsRecordType.A);
        byte[] response = good.clone();
        response[2] |= (byte) 0x80; // QR: a response sent as a query
        assertThat(udp(response).code()).isEqualTo("FormErr(1)");

        byte[] update = good.clone();
        update[2] = (byte) ((update[2] & 0x87) | (5 << 3)); // opcode UPDATE
        assertThat(udp(update).code()).isEqualTo("NotImp(4)");

        byte[] twoQuestions = good.clone();
        twoQuestions[5] = 2;
        assertThat(udp(twoQuestions).code()).as("two questions").isEqualTo("FormErr(1)");

        byte[] manyRecords = good.clone();
        manyRecords[11] = (byte) 200;
        assertThat(udp(manyRecords).code())
                .as("200 additional records announced")
                .isEqualTo("FormErr(1)");

        byte[] truncated = Arrays.copyOf(good, good.length - 3);
        assertThat(udp(truncated).code()).isEqualTo("FormErr(1)");

        // A name that is a compression pointer to itself.
        byte[] loop = {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, (byte) 0xc0, 12, 0, 1, 0, 1};
        DnsTestWire.Msg loopReply = udp(loop);
        assertThat(loopReply.code()).isEqualTo("FormErr(1)");
        assertThat(loopReply.id()).isEqualTo(0x1234);

        // A label running past the end.
        byte[] overrun = {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 60, 'a', 'b', 0, 1, 0, 1};
        assertThat(udp(overrun).code()).isEqualTo("FormErr(1)");

        // The server still answers normally.
        assertThat(udp(good).answers()).hasSize(1);
    }

    @Test
    void anOversizedTcpLengthClosesTheConnectionAndIsCounted() throws Exception {
        try (Socket s = new Socket()) {
            s.connect(address, 5000);
            s.setSoTimeout(5000);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            out.writeShort(60_000);
            out.write(new byte[100]);
            out.flush();
            assertThat(s.getInputStream().read()).isEqualTo(-1);
        }
        assertThat(metrics.dns().droppedCount(DnsMetrics.DropReason.OVERSIZED)).isEqualTo(1);
        assertThat(tcp(q("web.", DnsRecordType.A)).answers()).hasSize(1);
    }

    @Test
    void aQueryFloodIsBoundedByThePendingLimitAndLocalAnswersKeepFlowing() throws Exception {
        server.close();
        server = start("client", Duration.ofSeconds(3));
        address = server.addresses().getFirst();
        int sent = DnsService.MAX_PENDING + 200;
        try (DatagramSocket s = new DatagramSocket()) {
            for (int i = 0; i < sent; i++) {
                byte[] m = DnsTestWire.query(i, "slow.example.", DnsRecordType.A, -1);
                s.send(new DatagramPacket(m, m.length, address));
                if (i % 50 == 0) {
                    Thread.sleep(5); // let the loop read, so the kernel buffer does not drop them instead
                }
            }
        }
        await().atMost(Duration.ofSeconds(5))
                .until(() -> metrics.dns().droppedCount(DnsMetrics.DropReason.OVERLOAD) > 0);
        assertThat(server.service().pending()).isLessThanOrEqualTo(DnsService.MAX_PENDING);
        // Not stalled: a local name is answered at once while the slow ones wait.
        assertThat(udp(q("web.", DnsRecordType.A)).answers()).hasSize(1);
        await().atMost(Duration.ofSeconds(10)).until(() -> server.service().pending() == 0);
    }

    @Test
    void tcpConnectionsAboveTheLimitAreClosedAndCounted() throws Exception {
        List<Socket> open = new ArrayList<>();
        try {
            for (int i = 0; i < DnsServer.MAX_TCP_CONNECTIONS + 5; i++) {
                Socket s = new Socket();
                s.connect(address, 5000);
                open.add(s);
            }
            await().atMost(Duration.ofSeconds(5))
                    .until(() -> metrics.dns().droppedCount(DnsMetrics.DropReason.TOO_MANY_CONNECTIONS) == 5);
        } finally {
            for (Socket s : open) {
                s.close();
            }
        }
        await().atMost(Duration.ofSeconds(5))
                .untilAsserted(() ->
                        assertThat(tcp(q("web.", DnsRecordType.A)).answers()).hasSize(1));
    }
}
