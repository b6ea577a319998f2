package io.ztunnel.core.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.OpenSslCertificateException;
import io.netty.internal.tcnative.CertificateVerifier;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The peer-chain checks, and that remembering validated chains never lets a chain through that would fail them. */
class SpiffeTrustManagerTest {
    private static final SpiffeId CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/client/sa/client");

    @TempDir
    Path dir;

    @BeforeAll
    static void loadBoringSsl() {
        OpenSsl.ensureAvailability(); // the refusals carry tcnative's error codes, as in the daemon
    }

    /** A clock the test moves. */
    private static final class TestClock extends Clock {
        final AtomicReference<Instant> now = new AtomicReference<>(Instant.now());

        @Override
        public ZoneOffset getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now.get();
        }
    }

    private static X509Certificate[] chain(WorkloadCertificate certificate) {
        return certificate.chain().toArray(new X509Certificate[0]);
    }

    @Test
    void aPeersNextHandshakesSkipPathValidationWhileItsChainIsValid() throws Exception {
        LocalCa ca = LocalCa.loadOrCreate(dir.resolve("ca"), Clock.systemUTC());
        WorkloadCertificate client = TestPki.issue(ca, CLIENT, Duration.ofHours(1));
        SpiffeTrustManager trust =
                new SpiffeTrustManager(ca.roots(), "cluster.local", Revocation.NONE, new TestClock());

        for (int i = 0; i < 5; i++) {
            trust.checkClientTrusted(chain(client), "ECDHE_ECDSA");
        }
        assertThat(trust.pathValidations()).isOne();

        WorkloadCertificate renewed = TestPki.issue(ca, CLIENT, Duration.ofHours(1));
        trust.checkClientTrusted(chain(renewed), "ECDHE_ECDSA");
        assertThat(trust.pathValidations())
                .as("a new certificate is validated on its own")
                .isEqualTo(2);
    }

    @Test
    void aRememberedChainIsRefusedOnceItHasExpired() throws Exception {
        LocalCa ca = LocalCa.loadOrCreate(dir.resolve("ca"), Clock.systemUTC());
        WorkloadCertificate client = TestPki.issue(ca, CLIENT, Duration.ofHours(1));
        TestClock clock = new TestClock();
        SpiffeTrustManager trust = new SpiffeTrustManager(ca.roots(), "cluster.local", Revocation.NONE, clock);
        trust.checkClientTrusted(chain(client), "ECDHE_ECDSA");

        clock.now.set(client.chain().getFirst().getNotAfter().toInstant().plusSeconds(1));
        assertThatThrownBy(() -> trust.checkClientTrusted(chain(client), "ECDHE_ECDSA"))
                .isInstanceOfSatisfying(
                        OpenSslCertificateException.class,
                        e -> assertThat(e.errorCode())
                                .as("the peer is told its certificate expired")
                                .isEqualTo(CertificateVerifier.X509_V_ERR_CERT_HAS_EXPIRED));
    }

    @Test
    void anotherCasCertificateForTheSameIdentityIsRefusedAfterAGoodOneWasRemembered() throws Exception {
        LocalCa ca = LocalCa.loadOrCreate(dir.resolve("ca"), Clock.systemUTC());
        LocalCa foreign = LocalCa.loadOrCreate(dir.resolve("foreign"), Clock.systemUTC());
        SpiffeTrustManager trust =
                new SpiffeTrustManager(ca.roots(), "cluster.local", Revocation.NONE, new TestClock());
        trust.checkClientTrusted(chain(TestPki.issue(ca, CLIENT, Duration.ofHours(1))), "ECDHE_ECDSA");

        assertThatThrownBy(() -> trust.checkClientTrusted(
                        chain(TestPki.issue(foreign, CLIENT, Duration.ofHours(1))), "ECDHE_ECDSA"))
                .isInstanceOf(CertificateException.class)
                .hasMessageContaining("not trusted");
    }

    @Test
    void theTrustDomainIsCheckedAtEveryHandshakeEvenForARememberedChain() throws Exception {
        LocalCa ca = LocalCa.loadOrCreate(dir.resolve("ca"), Clock.systemUTC());
        WorkloadCertificate client = TestPki.issue(ca, CLIENT, Duration.ofHours(1));
        TestClock clock = new TestClock();
        new SpiffeTrustManager(ca.roots(), "cluster.local", Revocation.NONE, clock)
                .checkClientTrusted(chain(client), "ECDHE_ECDSA");
        SpiffeTrustManager otherDomain = new SpiffeTrustManager(ca.roots(), "other.domain", Revocation.NONE, clock);
        otherDomain.checkServerTrusted(chain(client), "ECDHE_ECDSA"); // remembered by this manager now

        assertThatThrownBy(() -> otherDomain.checkClientTrusted(chain(client), "ECDHE_ECDSA"))
                .isInstanceOf(CertificateException.class)
                .hasMessageContaining("trust domain other.domain");
        assertThat(otherDomain.pathValidations()).isOne();
    }
}
