package io.ztunnel.core.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.ztunnel.core.util.Subscription;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateRevokedException;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** CRL_PATH as upstream reads it: PEM or DER, issuer-signed lists, the watched reload, tracked connections. */
@Timeout(60)
class CrlManagerTest {
    private static final SpiffeId ALICE = SpiffeId.parse("spiffe://cluster.local/ns/a/sa/alice");
    private static final SpiffeId BOB = SpiffeId.parse("spiffe://cluster.local/ns/b/sa/bob");

    @TempDir
    Path caDir;

    @TempDir
    Path crlDir;

    private TestPki.Ca issuer;
    private WorkloadCertificate alice;
    private WorkloadCertificate bob;
    private Path file;

    @SuppressWarnings("NullAway.Init") // made by the tests that need one; the teardown closes it
    private CrlManager manager;

    private final AtomicInteger inboundRejections = new AtomicInteger();
    private final AtomicInteger outboundRejections = new AtomicInteger();
    private final AtomicInteger untracked = new AtomicInteger();
    private final CrlManager.Events events = new CrlManager.Events() {
        @Override
        public void rejected(boolean inbound) {
            (inbound ? inboundRejections : outboundRejections).incrementAndGet();
        }

        @Override
        public void untracked(boolean inbound) {
            untracked.incrementAndGet();
        }
    };

    @BeforeEach
    void setUp() throws Exception {
        LocalCa ca = LocalCa.loadOrCreate(caDir, Clock.systemUTC());
        issuer = TestCrls.caOf(caDir);
        alice = TestPki.issue(ca, ALICE, Duration.ofHours(1));
        bob = TestPki.issue(ca, BOB, Duration.ofHours(1));
        file = crlDir.resolve("ca-crl.pem");
    }

    @AfterEach
    void tearDown() {
        if (manager != null) {
            manager.close();
        }
    }

    private static X509Certificate leaf(WorkloadCertificate w) {
        return w.chain().getFirst();
    }

    private boolean revoked(WorkloadCertificate w) {
        try {
            manager.check(w.chain(), w.roots(), true);
            return false;
        } catch (CertificateRevokedException e) {
            return true;
        }
    }

    @Test
    void aPemCrlRevokesItsSerialsOnlyAndOtherPemBlocksAreIgnored() throws Exception {
        TestCrls.write(
                file,
                Pem.encode(issuer.certificate())
                        + TestCrls.pem(TestCrls.der(issuer, leaf(alice).getSerialNumber()))
                        + TestCrls.pem(TestCrls.der(issuer)));
        manager = CrlManager.start(file, events);

        assertThat(manager.current().size()).isEqualTo(2);
        assertThat(revoked(alice)).isTrue();
        assertThat(revoked(bob)).isFalse();
        assertThat(inboundRejections).hasValue(1);
        assertThatThrownBy(() -> manager.check(alice.chain(), alice.roots(), false))
                .isInstanceOf(CertificateRevokedException.class)
                .hasMessageContaining("KEY_COMPROMISE");
        assertThat(outboundRejections).hasValue(1);
    }

    @Test
    void aDerCrlIsReadToo() throws Exception {
        TestCrls.write(file, TestCrls.der(issuer, leaf(bob).getSerialNumber()));
        manager = CrlManager.start(file, events);

        assertThat(revoked(bob)).isTrue();
        assertThat(revoked(alice)).isFalse();
    }

    @Test
    void anEmptyFileOrPemWithoutCrlsRevokesNothing() throws Exception {
        TestCrls.write(file, "");
        manager = CrlManager.start(file, events);
        assertThat(revoked(alice)).isFalse();
        manager.close();

        TestCrls.write(file, Pem.encode(issuer.certificate()));
        manager = CrlManager.start(file, events);
        assertThat(manager.current().size()).isZero();
        assertThat(revoked(alice)).isFalse();
    }

    @Test
    void aMalformedCrlFailsTheWholeLoadWithAnErrorNamingTheFile() throws Exception {
        TestCrls.write(
                file,
                TestCrls.pem(TestCrls.der(issuer, leaf(alice).getSerialNumber()))
                        + TestCrls.pem("not a CRL".getBytes(StandardCharsets.US_ASCII)));
        assertThatThrownBy(() -> CrlManager.start(file, events))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("CRL_PATH=" + file)
                .hasMessageContaining("invalid CRL in PEM block 2");

        TestCrls.write(file, "garbage that is not DER");
        assertThatThrownBy(() -> CrlManager.start(file, events))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("CRL_PATH=" + file)
                .hasMessageContaining("invalid DER CRL");
    }

    @Test
    void aCrlNotSignedByTheCertificatesIssuerIsNotApplied() throws Exception {
        // Same issuer name, different key: the signature does not verify with the real issuer's key.
        TestPki.Ca impostor =
                TestPki.root(issuer.certificate().getSubjectX500Principal().getName(), TestPki.rsa());
        TestCrls.write(file, TestCrls.der(impostor, leaf(alice).getSerialNumber()));
        manager = CrlManager.start(file, events);

        assertThat(revoked(alice)).isFalse();
    }

    @Test
    void aMissingFileIsLoadedOnceItAppears() throws Exception {
        manager = CrlManager.start(file, events);
        assertThat(revoked(alice)).isFalse();

        Files.write(file, TestCrls.der(issuer, leaf(alice).getSerialNumber()));

        await().atMost(Duration.ofSeconds(15)).until(() -> revoked(alice));
        assertThat(revoked(bob)).isFalse();
    }

    @Test
    void aReloadHandsOverTrackedConnectionsItRevokesAndABrokenFileKeepsTheOldLists() throws Exception {
        TestCrls.write(file, TestCrls.der(issuer));
        manager = CrlManager.start(file, events);
        AtomicInteger aliceClosed = new AtomicInteger();
        AtomicInteger bobClosed = new AtomicInteger();
        AtomicInteger goneClosed = new AtomicInteger();
        manager.track(alice.chain(), alice.roots(), true, aliceClosed::incrementAndGet);
        manager.track(bob.chain(), bob.roots(), false, bobClosed::incrementAndGet);
        Subscription gone = manager.track(alice.chain(), alice.roots(), false, goneClosed::incrementAndGet);
        gone.close(); // that connection closed before the reload
        assertThat(manager.trackedCount()).isEqualTo(2);

        // The directory watcher picks the new file up.
        TestCrls.write(file, TestCrls.pem(TestCrls.der(issuer, leaf(alice).getSerialNumber())));

        await().atMost(Duration.ofSeconds(15))
                .untilAsserted(() -> assertThat(aliceClosed).hasValue(1));
        assertThat(bobClosed).hasValue(0);
        assertThat(goneClosed).hasValue(0);
        assertThat(inboundRejections).hasValue(1);
        assertThat(manager.trackedCount()).isEqualTo(1);

        TestCrls.write(file, "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
        assertThat(manager.reload()).isFalse();
        assertThat(revoked(alice)).isTrue();
        assertThat(bobClosed).hasValue(0);
    }

    @Test
    void aConnectionWithoutPeerCertificatesIsCountedUntracked() throws Exception {
        TestCrls.write(file, TestCrls.der(issuer));
        manager = CrlManager.start(file, events);

        assertThatCode(() ->
                        manager.track(List.of(), alice.roots(), true, () -> {}).close())
                .doesNotThrowAnyException();
        assertThat(untracked).hasValue(1);
        assertThat(manager.trackedCount()).isZero();
    }
}
