package io.ztunnel.core.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.identity.LocalCa;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.TlsSettings;
import io.ztunnel.core.testing.TestApps;
import io.ztunnel.core.util.Scheduler;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Who may talk to whom: server identity checks on the client, trust-domain and CA checks on the server. */
@Timeout(60)
class HboneSecurityTest {
    @TempDir
    Path caDir;

    @TempDir
    Path otherCaDir;

    // Set by each test before use; the teardown closes what was set.
    @SuppressWarnings("NullAway.Init")
    private HboneTestBed bed;

    @SuppressWarnings("NullAway.Init")
    private TestApps.Server app;

    private @Nullable CertificateManager otherCerts;

    @AfterEach
    void tearDown() throws Exception {
        if (otherCerts != null) {
            otherCerts.close();
        }
        if (bed != null) {
            bed.close();
        }
        if (app != null) {
            app.close();
        }
    }

    private static void assertClosedWithoutData(InetSocketAddress forwarder) throws Exception {
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            s.getOutputStream().write("secret".getBytes());
            try {
                assertThat(s.getInputStream().read()).isEqualTo(-1);
            } catch (SocketException e) {
                assertThat(e).hasMessageContaining("reset"); // closed with our bytes unread: also a refusal
            }
        }
    }

    private HboneException awaitFailure() {
        await().atMost(Duration.ofSeconds(15)).until(() -> !bed.outboundFailures.isEmpty());
        return (HboneException) bed.outboundFailures.peek();
    }

    @Test
    void refusesAServerWithAnUnexpectedIdentityBeforeSendingTheConnect() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(caDir);
        bed.target = app.address();
        bed.serverIdentity = SpiffeId.parse("spiffe://cluster.local/ns/server/sa/impostor");
        InetSocketAddress forwarder = bed.startForwarder(bed.startServer());

        assertClosedWithoutData(forwarder);

        HboneException failure = awaitFailure();
        assertThat(failure.kind()).isEqualTo(HboneException.Kind.IDENTITY_ERROR);
        assertThat(failure).hasMessageContaining("ns/server/sa/impostor").hasMessageContaining("expected one of");
        assertThat(bed.routed).hasValue(0);
        assertThat(app.accepted).isEmpty();
    }

    @Test
    void acceptsAServerWhoseIdentityIsAnyOfTheExpectedOnes() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(caDir);
        bed.target = app.address();
        bed.expected = List.of(SpiffeId.parse("spiffe://cluster.local/ns/x/sa/service-san"), HboneTestBed.SERVER);
        InetSocketAddress forwarder = bed.startForwarder(bed.startServer());
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            s.getOutputStream().write(1);
            assertThat(s.getInputStream().read()).isEqualTo(1);
        }
    }

    @Test
    void rejectsAClientFromAnotherTrustDomain() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(caDir);
        bed.target = app.address();
        InetSocketAddress hbone = bed.startServer();
        // Same CA, but the client identity is in another trust domain.
        SpiffeId foreign = SpiffeId.parse("spiffe://other.domain/ns/client/sa/client");
        InetSocketAddress forwarder = bed.startForwarder(hbone, id -> bed.certs.fetch(foreign));

        assertClosedWithoutData(forwarder);

        assertThat(awaitFailure().kind())
                .isIn(HboneException.Kind.TLS_FAILURE, HboneException.Kind.H2_HANDSHAKE_FAILURE);
        assertThat(bed.routed).hasValue(0);
        assertThat(app.accepted).isEmpty();
    }

    @Test
    void rejectsAClientCertifiedByAnotherCa() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(caDir);
        bed.target = app.address();
        InetSocketAddress hbone = bed.startServer();
        ScheduledExecutor executor = new ScheduledExecutor();
        otherCerts = new CertificateManager(
                LocalCa.loadOrCreate(otherCaDir, Clock.systemUTC()),
                Duration.ofHours(1),
                TlsSettings.DEFAULT,
                Scheduler.of(executor.service, Clock.systemUTC()),
                8);
        InetSocketAddress forwarder = bed.startForwarder(hbone, otherCerts);

        assertClosedWithoutData(forwarder);

        // The client does not trust the server either (different roots): whichever side notices first, it fails.
        assertThat(awaitFailure().kind())
                .isIn(HboneException.Kind.TLS_FAILURE, HboneException.Kind.H2_HANDSHAKE_FAILURE);
        assertThat(bed.routed).hasValue(0);
        otherCerts.close();
        otherCerts = null;
        executor.service.shutdown();
    }

    private static final class ScheduledExecutor {
        final ScheduledExecutorService service = Executors.newSingleThreadScheduledExecutor();
    }
}
