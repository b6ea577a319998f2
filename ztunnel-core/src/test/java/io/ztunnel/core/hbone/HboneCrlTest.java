package io.ztunnel.core.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.identity.CrlManager;
import io.ztunnel.core.identity.Revocation;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.TestCrls;
import io.ztunnel.core.identity.TlsSettings;
import io.ztunnel.core.testing.TestApps;
import io.ztunnel.core.util.Scheduler;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Certificate revocation on real HBONE connections: one CA issues the client's, a second client's and the server's
 * certificates; a CRL from that CA revokes one of them. New handshakes with a revoked peer fail on whichever end
 * checks, others go through, and a reload that revokes the peer of an established connection closes it.
 */
@Timeout(60)
class HboneCrlTest {
    private static final SpiffeId OTHER_CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/client/sa/other");

    @TempDir
    Path caDir;

    @TempDir
    Path crlDir;

    private HboneTestBed bed;
    private TestApps.Server app;
    private CrlManager crl;
    private Path crlFile;
    private final List<CertificateManager> managers = new ArrayList<>();
    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    private final AtomicInteger inboundRejections = new AtomicInteger();
    private final AtomicInteger outboundRejections = new AtomicInteger();

    @BeforeEach
    void setUp() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(caDir);
        bed.target = app.address();
        crlFile = crlDir.resolve("ca-crl.pem");
        TestCrls.write(crlFile, TestCrls.pem(TestCrls.der(TestCrls.caOf(caDir))));
        crl = CrlManager.start(crlFile, new CrlManager.Events() {
            @Override
            public void rejected(boolean inbound) {
                (inbound ? inboundRejections : outboundRejections).incrementAndGet();
            }
        });
    }

    @AfterEach
    void tearDown() throws Exception {
        if (bed != null) {
            bed.close();
        }
        managers.forEach(CertificateManager::close);
        scheduler.shutdownNow();
        if (crl != null) {
            crl.close();
        }
        if (app != null) {
            app.close();
        }
    }

    /** Certificates from the bed's CA, checking peers against {@code revocation}. */
    private CertificateManager certs(Revocation revocation) {
        CertificateManager m = new CertificateManager(
                bed.ca,
                Duration.ofHours(1),
                TlsSettings.DEFAULT.withRevocation(revocation),
                Scheduler.of(scheduler, Clock.systemUTC()),
                8);
        managers.add(m);
        return m;
    }

    private static BigInteger serial(CertificateManager certs, SpiffeId id) {
        return certs.fetch(id)
                .toCompletableFuture()
                .join()
                .certificate()
                .chain()
                .getFirst()
                .getSerialNumber();
    }

    private void revoke(BigInteger... serials) throws Exception {
        TestCrls.write(crlFile, TestCrls.pem(TestCrls.der(TestCrls.caOf(caDir), serials)));
        assertThat(crl.reload()).isTrue();
    }

    private static String roundTrip(Socket s, String text) throws IOException {
        s.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
        byte[] buf = new byte[text.length()];
        int off = 0;
        InputStream in = s.getInputStream();
        while (off < buf.length) {
            int n = in.read(buf, off, buf.length - off);
            if (n < 0) {
                break;
            }
            off += n;
        }
        return new String(buf, 0, off, StandardCharsets.US_ASCII);
    }

    /** Whether the connection ends (EOF or reset) without echoing anything. */
    private static boolean endsWithoutData(Socket s) throws IOException {
        try {
            return s.getInputStream().read() == -1;
        } catch (SocketException e) {
            return true;
        }
    }

    @Test
    void theServerRefusesARevokedClientAndServesAnotherOne() throws Exception {
        CertificateManager clientCerts = certs(Revocation.NONE); // only the server checks
        AtomicReference<SpiffeId> presenting = new AtomicReference<>(HboneTestBed.CLIENT);
        InetSocketAddress hbone = bed.startServer(certs(crl));
        InetSocketAddress forwarder = bed.startForwarder(hbone, id -> clientCerts.fetch(presenting.get()));
        revoke(serial(clientCerts, HboneTestBed.CLIENT));

        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            s.setSoTimeout(15_000);
            s.getOutputStream().write("secret".getBytes(StandardCharsets.US_ASCII));
            assertThat(endsWithoutData(s)).isTrue();
        }
        assertThat(bed.routed).hasValue(0);
        assertThat(inboundRejections).hasValue(1);

        presenting.set(OTHER_CLIENT);
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            s.setSoTimeout(15_000);
            assertThat(roundTrip(s, "hello")).isEqualTo("hello");
        }
        assertThat(bed.routed).hasValue(1);
        assertThat(inboundRejections).hasValue(1);
    }

    @Test
    void theClientRefusesARevokedServerWithCertRevoked() throws Exception {
        CertificateManager serverCerts = certs(Revocation.NONE); // only the client checks
        InetSocketAddress hbone = bed.startServer(serverCerts);
        InetSocketAddress forwarder = bed.startForwarder(hbone, certs(crl));
        revoke(serial(serverCerts, HboneTestBed.SERVER));

        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            s.setSoTimeout(15_000);
            s.getOutputStream().write("secret".getBytes(StandardCharsets.US_ASCII));
            assertThat(endsWithoutData(s)).isTrue();
        }
        await().atMost(Duration.ofSeconds(15)).until(() -> !bed.outboundFailures.isEmpty());
        HboneException failure = (HboneException) bed.outboundFailures.peek();
        assertThat(failure.kind()).isEqualTo(HboneException.Kind.CERT_REVOKED);
        assertThat(bed.routed).hasValue(0);
        assertThat(outboundRejections).hasValue(1);
        assertThat(inboundRejections).hasValue(0);
    }

    @Test
    void aReloadRevokingTheClientClosesTheEstablishedInboundConnection() throws Exception {
        CertificateManager clientCerts = certs(crl);
        InetSocketAddress hbone = bed.startServer(certs(crl));
        InetSocketAddress forwarder = bed.startForwarder(hbone, clientCerts);
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            s.setSoTimeout(15_000);
            assertThat(roundTrip(s, "before")).isEqualTo("before");
            assertThat(crl.trackedCount()).isEqualTo(2); // the client's and the server's end

            revoke(serial(clientCerts, HboneTestBed.CLIENT));

            assertThat(endsWithoutData(s)).isTrue();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> bed.server.connectionCount() == 0);
        await().atMost(Duration.ofSeconds(10)).until(() -> bed.pool.connectionCount() == 0);
        assertThat(inboundRejections).hasValue(1);
        assertThat(outboundRejections).hasValue(0);
        // The server's relay ends with upstream's revocation error (its response flag is CERT_REVOKED).
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(bed.relayErrors)
                        .anySatisfy(e -> assertThat(e)
                                .isInstanceOfSatisfying(
                                        HboneException.class,
                                        h -> assertThat(h.kind()).isEqualTo(HboneException.Kind.CERT_REVOKED))
                                .hasMessage("connection closed: peer certificate revoked by CRL")));
        assertThat(crl.trackedCount()).isZero();
    }

    @Test
    void aReloadRevokingTheServerDropsThePooledOutboundConnection() throws Exception {
        CertificateManager serverCerts = certs(crl);
        InetSocketAddress hbone = bed.startServer(serverCerts);
        InetSocketAddress forwarder = bed.startForwarder(hbone, certs(crl));
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            s.setSoTimeout(15_000);
            assertThat(roundTrip(s, "before")).isEqualTo("before");

            revoke(serial(serverCerts, HboneTestBed.SERVER));

            assertThat(endsWithoutData(s)).isTrue();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> bed.pool.connectionCount() == 0);
        assertThat(outboundRejections).hasValue(1);
        assertThat(inboundRejections).hasValue(0);
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(bed.relayErrors)
                        .anySatisfy(e -> assertThat(e)
                                .isInstanceOfSatisfying(
                                        HboneException.class,
                                        h -> assertThat(h.kind()).isEqualTo(HboneException.Kind.CERT_REVOKED))));

        // A new connection is refused: the server's certificate is still revoked.
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            s.setSoTimeout(15_000);
            s.getOutputStream().write("again".getBytes(StandardCharsets.US_ASCII));
            assertThat(endsWithoutData(s)).isTrue();
        }
        assertThat(outboundRejections).hasValue(2);
    }
}
