package io.ztunnel.core.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.netty.channel.Channel;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.concurrent.Future;
import io.ztunnel.core.config.HboneSettings;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.net.HboneAddress;
import io.ztunnel.core.testing.TestApps;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Pool behaviour observed from outside: how many TLS connections carry how many proxied connections. */
@Timeout(120)
class HbonePoolTest {
    /** The downstream client's port in the requests' {@code forwarded} header (the pool does not look at it). */
    private static final int DOWNSTREAM_PORT = 45678;

    @TempDir
    Path caDir;

    private @Nullable HboneTestBed bed;
    private TestApps.@Nullable Server app;

    @AfterEach
    void tearDown() throws Exception {
        if (bed != null) {
            bed.close();
        }
        if (app != null) {
            app.close();
        }
    }

    @Test
    void thousandConcurrentConnectionsShareAtMostTenTlsConnections() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(caDir);
        bed.target = app.address();
        InetSocketAddress forwarder = bed.startForwarder(bed.startServer());

        List<Socket> sockets = new ArrayList<>();
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            List<CompletableFuture<Socket>> opening = new ArrayList<>();
            for (int i = 0; i < 1000; i++) {
                int n = i;
                opening.add(CompletableFuture.supplyAsync(
                        () -> {
                            try {
                                Socket s = new Socket(forwarder.getAddress(), forwarder.getPort());
                                s.getOutputStream().write(n & 0x7f);
                                assertThat(s.getInputStream().read()).isEqualTo(n & 0x7f);
                                return s;
                            } catch (Exception e) {
                                throw new RuntimeException(e);
                            }
                        },
                        threads));
            }
            for (CompletableFuture<Socket> f : opening) {
                sockets.add(f.join());
            }
            // All 1000 are open and proven to carry data at the same time.
            assertThat(app.accepted).hasSize(1000);
            assertThat(bed.server.connectionCount()).isLessThanOrEqualTo(10);
            assertThat(bed.pool.connectionCount()).isEqualTo(10);
        } finally {
            for (Socket s : sockets) {
                s.close();
            }
        }
    }

    @Test
    void fullConnectionsAreNotHandedOutAndANewOneIsDialed() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(caDir, HboneSettings.DEFAULT.withPool(3, Duration.ofMinutes(5)), Duration.ofHours(1), 1);
        bed.target = app.address();
        InetSocketAddress hbone = bed.startServer();
        bed.startForwarder(hbone);
        EventLoop loop = bed.group.next();

        List<Http2StreamChannel> streams = openStreams(loop, request(hbone, HboneTestBed.CLIENT), 7);
        assertThat(streams).hasSize(7);
        assertThat(streams.stream().map(Channel::parent).distinct()).hasSize(3);
        assertThat(bed.server.connectionCount()).isEqualTo(3);

        // A connection that was handed out full has left the pool (upstream's check-in rule): a slot freed on it is
        // not reused; the next request takes the connection that still has room, and the retired one closes once
        // its last stream ends.
        Channel retired = streams.getFirst().parent();
        Channel withRoom = streams.getLast().parent();
        streams.getFirst().close().sync();
        List<Http2StreamChannel> more = openStreams(loop, request(hbone, HboneTestBed.CLIENT), 1);
        assertThat(more.getFirst().parent()).isSameAs(withRoom);
        assertThat(bed.server.connectionCount()).isEqualTo(3);
        closeAll(streams.stream().filter(s -> s.parent() == retired).toList());
        await().atMost(Duration.ofSeconds(5)).until(() -> !retired.isActive());
        assertThat(withRoom.isActive()).isTrue();
        closeAll(streams);
        closeAll(more);
    }

    @Test
    void withACapOfOneEveryStreamGetsItsOwnConnection() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(caDir, HboneSettings.DEFAULT.withPool(1, Duration.ofMinutes(5)), Duration.ofHours(1), 1);
        bed.target = app.address();
        InetSocketAddress hbone = bed.startServer();
        bed.startForwarder(hbone);
        EventLoop loop = bed.group.next();

        List<Channel> connections = new ArrayList<>();
        for (int i = 0; i < 3; i++) { // one after the other: each connection is idle before the next request
            Http2StreamChannel stream =
                    openStreams(loop, request(hbone, HboneTestBed.CLIENT), 1).getFirst();
            connections.add(stream.parent());
            stream.close().sync();
            await().atMost(Duration.ofSeconds(5)).until(() -> !stream.parent().isActive());
        }
        assertThat(connections).doesNotHaveDuplicates();
        assertThat(bed.pool.connectionCount()).isZero();
        // The server closes its side of each connection the client closed (it kept them, spinning in epoll, before).
        assertThat(bed.serverChildren).hasSize(3);
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(bed().serverChildren).noneMatch(Channel::isOpen));
    }

    @Test
    void requestsWithDifferentKeysNeverShareAConnection() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(caDir, HboneSettings.DEFAULT, Duration.ofHours(1), 1);
        bed.target = app.address();
        InetSocketAddress hbone = bed.startServer();
        bed.startForwarder(hbone);
        EventLoop loop = bed.group.next();
        SpiffeId otherSource = SpiffeId.parse("spiffe://cluster.local/ns/client/sa/other");

        Http2StreamChannel a =
                openStreams(loop, request(hbone, HboneTestBed.CLIENT), 1).getFirst();
        Http2StreamChannel b = openStreams(loop, request(hbone, otherSource), 1).getFirst();
        InetAddress otherSourceIp = InetAddress.getByName("127.0.0.2");
        HboneRequest otherIp = new HboneRequest(
                new PoolKey(HboneTestBed.CLIENT, List.of(HboneTestBed.SERVER), hbone, otherSourceIp),
                HboneAddress.of(app.address()).authority(),
                new InetSocketAddress(otherSourceIp, DOWNSTREAM_PORT),
                null,
                Baggage.EMPTY);
        Http2StreamChannel c = openStreams(loop, otherIp, 1).getFirst();
        Http2StreamChannel d =
                openStreams(loop, request(hbone, HboneTestBed.CLIENT), 1).getFirst();

        assertThat(List.of(a.parent(), b.parent(), c.parent())).doesNotHaveDuplicates();
        assertThat(d.parent()).isSameAs(a.parent());
        assertThat(bed.requests)
                .extracting(InboundRequest::peerIdentity)
                .containsExactlyInAnyOrder(HboneTestBed.CLIENT, otherSource, HboneTestBed.CLIENT, HboneTestBed.CLIENT);
        closeAll(List.of(a, b, c, d));
    }

    @Test
    void idleConnectionsAreReleasedAfterTheTimeout() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(
                caDir, HboneSettings.DEFAULT.withPool(100, Duration.ofMillis(300)), Duration.ofHours(1), 1);
        bed.target = app.address();
        InetSocketAddress hbone = bed.startServer();
        bed.startForwarder(hbone);
        EventLoop loop = bed.group.next();
        Http2StreamChannel stream =
                openStreams(loop, request(hbone, HboneTestBed.CLIENT), 1).getFirst();
        Channel connection = stream.parent();
        // A second connection (another source identity, so another pool key) that goes idle at once: once it is
        // released the idle timeout has passed and been enforced, and the busy connection must still be there.
        Http2StreamChannel brief = openStreams(
                        loop, request(hbone, SpiffeId.parse("spiffe://cluster.local/ns/client/sa/other")), 1)
                .getFirst();
        Channel idle = brief.parent();
        assertThat(idle).isNotSameAs(connection);
        brief.close().sync();
        await().atMost(Duration.ofSeconds(5)).until(() -> !idle.isActive());
        assertThat(connection.isActive()).as("busy connection stays").isTrue();
        stream.close().sync();
        await().atMost(Duration.ofSeconds(5)).until(() -> !connection.isActive());
        assertThat(bed.pool.connectionCount()).isZero();
    }

    @Test
    void aConnectionThatStopsAnsweringPingsIsDropped() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(
                caDir,
                HboneSettings.DEFAULT.withPing(Duration.ofMillis(100), Duration.ofMillis(300)),
                Duration.ofHours(1),
                1);
        bed.target = app.address();
        // A TCP "server" that accepts and completes nothing: the TLS handshake stalls, so use a real server whose
        // connection we then freeze by stopping reads on its side.
        InetSocketAddress hbone = bed.startServer();
        bed.startForwarder(hbone);
        Http2StreamChannel stream = openStreams(bed.group.next(), request(hbone, HboneTestBed.CLIENT), 1)
                .getFirst();
        Channel connection = stream.parent();
        await().atMost(Duration.ofSeconds(5)).until(() -> bed().server.connectionCount() == 1);
        bed.freezeServerConnections();
        await().atMost(Duration.ofSeconds(10)).until(() -> !connection.isActive());
    }

    @Test
    void closingThePoolWhileDialingLeavesNoConnectionBehind() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(caDir, HboneSettings.DEFAULT, Duration.ofHours(1), 1);
        bed.target = app.address();
        InetSocketAddress hbone = bed.startServer();
        bed.startForwarder(hbone);
        EventLoop loop = bed.group.next();
        // A connection for another key first, so the pool is known to work on this bed.
        Http2StreamChannel warm =
                openStreams(loop, request(hbone, HboneTestBed.CLIENT), 1).getFirst();
        warm.close().sync();

        Future<Http2StreamChannel> inFlight =
                bed.pool.connect(loop, request(hbone, SpiffeId.parse("spiffe://cluster.local/ns/client/sa/late")));
        bed.pool.close();
        assertThat(inFlight.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(inFlight.isSuccess()).as("a closed pool hands out no stream").isFalse();
        // Whatever the dial got to, the server ends up with no connection from this pool and the pool holds none.
        await().atMost(Duration.ofSeconds(10)).until(() -> bed().server.connectionCount() == 0);
        assertThat(bed.pool.connectionCount()).isZero();
    }

    /** The bed the test started; fails the test when it started none. */
    private HboneTestBed bed() {
        return Objects.requireNonNull(bed, "no test bed started");
    }

    /** The app the test started; fails the test when it started none. */
    private TestApps.Server app() {
        return Objects.requireNonNull(app, "no app started");
    }

    private HboneRequest request(InetSocketAddress hbone, SpiffeId source) throws Exception {
        InetAddress sourceIp = InetAddress.getLoopbackAddress();
        return new HboneRequest(
                new PoolKey(source, List.of(HboneTestBed.SERVER), hbone, sourceIp),
                HboneAddress.of(app().address()).authority(),
                new InetSocketAddress(sourceIp, DOWNSTREAM_PORT),
                null,
                Baggage.EMPTY);
    }

    private List<Http2StreamChannel> openStreams(EventLoop loop, HboneRequest request, int n) throws Exception {
        List<Future<Http2StreamChannel>> futures = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            futures.add(bed().pool.connect(loop, request));
        }
        List<Http2StreamChannel> streams = new ArrayList<>();
        for (Future<Http2StreamChannel> f : futures) {
            streams.add(f.get());
        }
        return streams;
    }

    private static void closeAll(List<Http2StreamChannel> streams) {
        streams.forEach(Channel::close);
    }

    static String readAll(InputStream in) throws Exception {
        return new String(in.readAllBytes());
    }
}
