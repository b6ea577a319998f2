package io.ztunnel.core.control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.netty.channel.EventLoopGroup;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.Env;
import io.ztunnel.core.identity.CertificateAuthority;
import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.identity.Certificates;
import io.ztunnel.core.identity.Csr;
import io.ztunnel.core.identity.IssuedChain;
import io.ztunnel.core.identity.IstiodCa;
import io.ztunnel.core.identity.LoadingCa;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.TlsMaterial;
import io.ztunnel.core.identity.TlsSettings;
import io.ztunnel.core.net.Transport;
import io.ztunnel.core.util.ManualScheduler;
import io.ztunnel.xds.proto.ca.IstioCertificateRequest;
import io.ztunnel.xds.testing.FakeIstiod;
import io.ztunnel.xds.testing.TestCertificates;
import java.nio.file.Path;
import java.security.KeyPair;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link IstiodCa} against the fake istiod over TLS, configured through {@link ControlPlane#certificateAuthority}
 * from environment variables: what the CSR and metadata carry in each mode, and that bad answers are rejected by the
 * {@link CertificateManager} while the previous certificate stays in use.
 */
@Timeout(60)
class IstiodCaTest {
    private static final SpiffeId A = SpiffeId.parse("spiffe://cluster.local/ns/a/sa/a");

    @TempDir
    Path dir;

    private FakeIstiod istiod;
    private EventLoopGroup control;
    private final Transport transport = Transport.best();
    private @Nullable CertificateAuthority ca;
    private @Nullable CertificateManager manager;

    @BeforeEach
    void setUp() throws Exception {
        istiod = FakeIstiod.startTls();
        control = transport.newGroup(1, "ca-test");
    }

    @AfterEach
    void tearDown() throws Exception {
        if (manager != null) {
            manager.close();
        }
        if (ca instanceof AutoCloseable closeable) {
            closeable.close();
        }
        Transport.shutdown(control);
        istiod.close();
    }

    private Config config(Map<String, String> extra) throws Exception {
        Map<String, String> env = new HashMap<>();
        env.put("CA_ADDRESS", istiod.address());
        env.put("CA_ROOT_CA", istiod.writeRoot(dir.resolve("root-cert.pem")).toString());
        env.put("AUTH_TOKEN", "ca-test-token");
        env.put("CLUSTER_ID", "cluster-1");
        env.put("CA_HEADER_X_CA_TEST", "yes");
        env.putAll(extra);
        return Config.from(new Env(env));
    }

    private IstioCertificateRequest lastRequest() {
        return istiod.caRequests().getLast().request();
    }

    @Test
    void sharedModeSendsACsrForTheIdentityAndImpersonatesIt() throws Exception {
        ca = ControlPlane.certificateAuthority(config(Map.of()), control, transport);
        assertThat(ca).isInstanceOf(IstiodCa.class);
        assertThat(ca.describe()).isEqualTo("istiod CA " + istiod.address() + " (impersonating workloads)");

        KeyPair key = Csr.newP256KeyPair();
        IssuedChain chain = ca.sign(A, Csr.create(A, key), Duration.ofHours(12))
                .toCompletableFuture()
                .get(10, TimeUnit.SECONDS);

        assertThat(Certificates.firstSpiffeId(chain.leaf())).isEqualTo(A);
        assertThat(chain.leaf().getPublicKey()).isEqualTo(key.getPublic());
        assertThat(chain.roots()).containsExactly(istiod.root());
        IstioCertificateRequest request = lastRequest();
        assertThat(TestCertificates.parseCsr(request.getCsr()).uriSans()).containsExactly(A.toString());
        assertThat(request.getValidityDuration()).isEqualTo(12 * 3600);
        assertThat(request.getMetadata().getFieldsMap()).containsOnlyKeys("ImpersonatedIdentity");
        assertThat(request.getMetadata()
                        .getFieldsOrThrow("ImpersonatedIdentity")
                        .getStringValue())
                .isEqualTo(A.toString());
        FakeIstiod.CallRecord call =
                istiod.callHeaders(m -> m.endsWith("CreateCertificate")).getLast();
        assertThat(call.authorization()).isEqualTo("Bearer ca-test-token");
        assertThat(call.header("clusterid")).isEqualTo("cluster-1");
        assertThat(call.header("x_ca_test")).isEqualTo("yes");
    }

    @Test
    void dedicatedModeSendsNoMetadata() throws Exception {
        ca = ControlPlane.certificateAuthority(
                config(Map.of("PROXY_MODE", "dedicated", "PROXY_WORKLOAD_INFO", "a/pod-a/a")), control, transport);
        assertThat(ca.describe()).endsWith("(own identity)");

        IssuedChain chain = ca.sign(A, Csr.create(A, Csr.newP256KeyPair()), Duration.ofHours(24))
                .toCompletableFuture()
                .get(10, TimeUnit.SECONDS);

        assertThat(Certificates.firstSpiffeId(chain.leaf())).isEqualTo(A);
        IstioCertificateRequest request = lastRequest();
        assertThat(request.hasMetadata()).isFalse();
        assertThat(TestCertificates.parseCsr(request.getCsr()).uriSans()).containsExactly(A.toString());
    }

    @Test
    void aWrongSanAMissingRootOrAnErrorIsRejectedAndTheOldCertificateStays() throws Exception {
        ca = ControlPlane.certificateAuthority(config(Map.of()), control, transport);
        ManualScheduler scheduler = new ManualScheduler(Instant.now());
        manager = new CertificateManager(ca, Duration.ofHours(24), TlsSettings.DEFAULT, scheduler, 8);
        try {
            rejectsBadAnswers(manager, scheduler);
        } finally {
            // On the manual scheduler's own thread, so that closing (and releasing the contexts) runs at once.
            manager.close();
            manager = null;
        }
    }

    private void rejectsBadAnswers(CertificateManager certificates, ManualScheduler scheduler) throws Exception {
        CompletableFuture<TlsMaterial> first = certificates.fetch(A);
        until(scheduler, first::isDone);
        TlsMaterial original = first.join();
        assertThat(original.certificate().roots()).containsExactly(istiod.root());

        istiod.caMode(FakeIstiod.CaMode.WRONG_SAN);
        scheduler.advance(
                Duration.between(scheduler.now(), original.certificate().refreshAt()));
        until(scheduler, () -> error(certificates).contains("instead of " + A));
        assertThat(error(certificates)).contains(FakeIstiod.WRONG_IDENTITY);
        assertKeptOriginal(certificates, original);

        istiod.caMode(FakeIstiod.CaMode.NO_ROOT);
        int requests = istiod.caRequests().size();
        scheduler.advance(Duration.ofSeconds(2)); // past the first retry backoff (500 ms ± 20 %)
        until(scheduler, () -> error(certificates).contains("no root certificate present"));
        assertThat(istiod.caRequests()).hasSize(requests + 1);
        assertKeptOriginal(certificates, original);

        istiod.caMode(FakeIstiod.CaMode.ERROR);
        scheduler.advance(Duration.ofSeconds(3)); // past the second backoff (1 s ± 20 %)
        until(scheduler, () -> error(certificates).contains("PERMISSION_DENIED"));
        assertKeptOriginal(certificates, original);

        // Every renewal asked for the same identity, and a good answer replaces the certificate at last.
        assertThat(istiod.caRequests())
                .allSatisfy(r -> assertThat(r.request()
                                .getMetadata()
                                .getFieldsOrThrow("ImpersonatedIdentity")
                                .getStringValue())
                        .isEqualTo(A.toString()));
        istiod.caMode(FakeIstiod.CaMode.NORMAL);
        scheduler.advance(Duration.ofSeconds(5));
        until(scheduler, () -> certificates.current(A) != original);
        assertThat(certificates.status()).singleElement().satisfies(s -> {
            assertThat(s.state()).isEqualTo(CertificateManager.State.AVAILABLE);
            assertThat(s.error()).isNull();
        });
    }

    @Test
    void theLocalCaStaysTheDefaultWithoutACaAddressOrWithAnExplicitLocalCaDir() throws Exception {
        ca = ControlPlane.certificateAuthority(
                config(Map.of(
                        "CA_ADDRESS", "", "LOCAL_CA_DIR", dir.resolve("ca-1").toString())),
                control,
                transport);
        assertThat(ca).isInstanceOf(LoadingCa.class);

        Config explicitDir = config(Map.of("LOCAL_CA_DIR", dir.resolve("ca-2").toString()));
        assertThat(explicitDir.caAddress()).isEqualTo(istiod.address());
        assertThat(explicitDir.localCa()).isTrue();
        assertThat(ControlPlane.certificateAuthority(explicitDir, control, transport)
                        .describe())
                .isEqualTo("local CA " + dir.resolve("ca-2"));

        assertThat(config(Map.of()).localCa()).isFalse();
    }

    private static String error(CertificateManager certificates) {
        CertificateManager.Status status = certificates.status().getFirst();
        return status.error() == null ? "" : status.error();
    }

    private static void assertKeptOriginal(CertificateManager certificates, TlsMaterial original) {
        assertThat(certificates.current(A)).isSameAs(original);
        assertThat(certificates.fetch(A).join()).isSameAs(original);
        assertThat(certificates.status())
                .singleElement()
                .satisfies(s -> assertThat(s.state()).isEqualTo(CertificateManager.State.AVAILABLE));
    }

    /** Runs the manual scheduler on the test thread until {@code condition} holds (CA answers arrive on gRPC threads). */
    private static void until(ManualScheduler scheduler, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (true) {
            scheduler.runPending();
            if (condition.getAsBoolean()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                fail("condition not met in 15 s");
            }
            Thread.sleep(10);
        }
    }
}
