package io.ztunnel.core.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.netty.handler.codec.http.HttpResponseStatus;
import io.ztunnel.core.net.HboneAddress;
import io.ztunnel.core.testing.TestApps;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Client app → outbound forwarder → HBONE (mTLS, HTTP/2 CONNECT) → inbound server → app, all on loopback. */
@Timeout(120)
class HboneEndToEndTest {
    @TempDir
    Path caDir;

    // Set by each test before use; the teardown closes what was set.
    @SuppressWarnings("NullAway.Init")
    private HboneTestBed bed;

    @SuppressWarnings("NullAway.Init")
    private TestApps.Server app;

    @AfterEach
    void tearDown() throws Exception {
        if (bed != null) {
            bed.close();
        }
        if (app != null) {
            app.close();
        }
    }

    private InetSocketAddress start(TestApps.Server server) throws Exception {
        app = server;
        bed = new HboneTestBed(caDir);
        bed.target = server.address();
        return bed.startForwarder(bed.startServer());
    }

    @Test
    void carriesBytesBothWaysAndSendsZtunnelsRequestHeaders() throws Exception {
        InetSocketAddress forwarder = start(TestApps.echo());
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            s.getOutputStream().write("hello mesh".getBytes(StandardCharsets.US_ASCII));
            s.shutdownOutput();
            assertThat(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII))
                    .isEqualTo("hello mesh");
        }
        InboundRequest request = bed.requests.peek();
        assertThat(request.peerIdentity()).isEqualTo(HboneTestBed.CLIENT);
        assertThat(request.target()).isEqualTo(HboneAddress.of(app.address()));
        assertThat(request.headers().method().toString()).isEqualTo("CONNECT");
        assertThat(request.headers().scheme()).isNull();
        assertThat(request.headers().path()).isNull();
        assertThat(request.header("forwarded"))
                .matches("for=\"127\\.0\\.0\\.1:\\d+\";host=echo\\.server\\.svc\\.cluster\\.local");
        assertThat(request.header("traceparent")).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-00");
        assertThat(request.baggage().namespace()).isEqualTo("client");
        assertThat(request.header("baggage"))
                .isEqualTo("k8s.cluster.name=Kubernetes,k8s.namespace.name=client,"
                        + "k8s.deployment.name=client,service.name=client,service.version=v1");
    }

    @Test
    void oneGibibyteEachWayArrivesIntact() throws Exception {
        long size = 1L << 30;
        AtomicReference<TestApps.Digest> serverReceived = new AtomicReference<>();
        AtomicReference<String> serverSent = new AtomicReference<>();
        InetSocketAddress forwarder = start(new TestApps.Server(s -> {
            try {
                CompletableFuture<Void> sending = CompletableFuture.runAsync(() -> {
                    try {
                        serverSent.set(TestApps.send(s.getOutputStream(), size, 2));
                        s.shutdownOutput();
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
                serverReceived.set(TestApps.receive(s.getInputStream()));
                sending.join();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }));
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            CompletableFuture<String> sending = CompletableFuture.supplyAsync(() -> {
                try {
                    String sha = TestApps.send(s.getOutputStream(), size, 1);
                    s.shutdownOutput();
                    return sha;
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            TestApps.Digest clientReceived = TestApps.receive(s.getInputStream());
            String clientSent = sending.join();

            assertThat(clientReceived.bytes()).isEqualTo(size);
            assertThat(clientReceived.sha256()).isEqualTo(serverSent.get());
            await().atMost(Duration.ofSeconds(30)).until(() -> serverReceived.get() != null);
            assertThat(serverReceived.get().bytes()).isEqualTo(size);
            assertThat(serverReceived.get().sha256()).isEqualTo(clientSent);
        }
    }

    @Test
    void clientHalfCloseReachesTheServerWhichCanStillAnswer() throws Exception {
        InetSocketAddress forwarder = start(new TestApps.Server(s -> {
            try {
                byte[] request = s.getInputStream().readAllBytes(); // returns only at the client's FIN
                Thread.sleep(200);
                s.getOutputStream().write(("got " + request.length + " bytes then EOF").getBytes());
                s.shutdownOutput();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }));
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            s.getOutputStream().write(new byte[12345]);
            s.shutdownOutput();
            assertThat(new String(s.getInputStream().readAllBytes())).isEqualTo("got 12345 bytes then EOF");
        }
    }

    @Test
    void serverHalfCloseReachesTheClientWhichCanStillSend() throws Exception {
        AtomicReference<String> serverGot = new AtomicReference<>();
        InetSocketAddress forwarder = start(new TestApps.Server(s -> {
            try {
                s.getOutputStream().write("banner".getBytes());
                s.shutdownOutput();
                serverGot.set(new String(s.getInputStream().readAllBytes()));
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }));
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            InputStream in = s.getInputStream();
            assertThat(new String(in.readAllBytes())).isEqualTo("banner"); // EOF seen while we keep sending
            OutputStream out = s.getOutputStream();
            out.write("still talking after your FIN".getBytes());
            s.shutdownOutput();
            await().atMost(Duration.ofSeconds(10)).until(() -> serverGot.get() != null);
            assertThat(serverGot.get()).isEqualTo("still talking after your FIN");
        }
    }

    @Test
    void rejectionStatusClosesTheClientConnectionWithoutData() throws Exception {
        InetSocketAddress forwarder = start(TestApps.echo());
        bed.decide = stream -> stream.reject(HttpResponseStatus.UNAUTHORIZED, "denied by test");
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            assertThat(s.getInputStream().read()).isEqualTo(-1);
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> !bed.outboundFailures.isEmpty());
        assertThat(bed.outboundFailures.peek()).isInstanceOfSatisfying(HboneException.class, e -> {
            assertThat(e.kind()).isEqualTo(HboneException.Kind.HTTP_STATUS);
            assertThat(e.status()).isEqualTo(401);
        });
        assertThat(app.accepted).isEmpty();
    }

    @Test
    void upstreamConnectFailureAnswers503() throws Exception {
        InetSocketAddress forwarder = start(TestApps.echo());
        bed.target = new InetSocketAddress("127.0.0.1", 1); // nothing listens there
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            assertThat(s.getInputStream().read()).isEqualTo(-1);
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> !bed.outboundFailures.isEmpty());
        assertThat(((HboneException) bed.outboundFailures.peek()).status()).isEqualTo(503);
    }
}
