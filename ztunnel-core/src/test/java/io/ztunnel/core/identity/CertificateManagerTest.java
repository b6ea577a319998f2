package io.ztunnel.core.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ztunnel.core.util.ManualScheduler;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CertificateManagerTest {
    private static final SpiffeId A = SpiffeId.parse("spiffe://cluster.local/ns/a/sa/a");
    private static final SpiffeId B = SpiffeId.parse("spiffe://cluster.local/ns/b/sa/b");
    private static final Duration TTL = Duration.ofHours(24);

    @TempDir
    Path dir;

    private ManualScheduler scheduler;
    private ControllableCa ca;
    private CertificateManager manager;

    /** A CA whose answers the test releases one by one, signing with a real local CA on the manual clock. */
    private final class ControllableCa implements CertificateAuthority {
        final LocalCa real;
        final List<SpiffeId> requests = new ArrayList<>();
        final List<CompletableFuture<IssuedChain>> pending = new ArrayList<>();
        final List<Runnable> answers = new ArrayList<>();
        Function<IssuedChain, IssuedChain> tamper = Function.identity();

        ControllableCa(LocalCa real) {
            this.real = real;
        }

        @Override
        public CompletionStage<IssuedChain> sign(SpiffeId identity, String csrPem, Duration ttl) {
            requests.add(identity);
            CompletableFuture<IssuedChain> f = new CompletableFuture<>();
            pending.add(f);
            answers.add(() -> real.sign(identity, csrPem, ttl).thenApply(tamper).whenComplete((c, e) -> {
                if (e != null) f.completeExceptionally(e);
                else f.complete(c);
            }));
            return f;
        }

        void answerAll() {
            List<Runnable> now = List.copyOf(answers);
            answers.clear();
            now.forEach(Runnable::run);
            scheduler.runPending();
        }

        void failAll(String why) {
            answers.clear();
            List<CompletableFuture<IssuedChain>> now = List.copyOf(pending);
            pending.clear();
            now.forEach(f -> f.completeExceptionally(new IllegalStateException(why)));
            scheduler.runPending();
        }

        @Override
        public String describe() {
            return "test CA";
        }
    }

    @BeforeEach
    void setUp() {
        Instant start = Instant.now();
        scheduler = new ManualScheduler(start);
        Clock clock = new Clock() {
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
                return scheduler.now();
            }
        };
        ca = new ControllableCa(LocalCa.loadOrCreate(dir, clock));
        manager = new CertificateManager(ca, TTL, TlsSettings.DEFAULT, scheduler, 2);
    }

    @AfterEach
    void tearDown() {
        manager.close();
        scheduler.advance(Duration.ofMinutes(5));
    }

    @Test
    void fetchIssuesACertificateAndLaterFetchesAreServedFromTheCache() {
        CompletableFuture<TlsMaterial> first = manager.fetch(A);
        scheduler.runPending();
        assertThat(first).isNotDone();
        ca.answerAll();

        TlsMaterial material = first.join();
        assertThat(material.identity()).isEqualTo(A);
        assertThat(manager.fetch(A).join()).isSameAs(material);
        assertThat(ca.requests).containsExactly(A);
        assertThat(manager.status())
                .singleElement()
                .satisfies(s -> assertThat(s.state()).isEqualTo(CertificateManager.State.AVAILABLE));
    }

    @Test
    void concurrentFetchesOfOneIdentityShareOneRequest() {
        CompletableFuture<TlsMaterial> one = manager.fetch(A);
        CompletableFuture<TlsMaterial> two = manager.fetch(A);
        scheduler.runPending();
        ca.answerAll();
        assertThat(ca.requests).containsExactly(A);
        assertThat(one.join()).isSameAs(two.join());
    }

    @Test
    void renewsAtHalfLifeAndSwapsTheContexts() {
        CompletableFuture<TlsMaterial> first = manager.fetch(A);
        scheduler.runPending();
        ca.answerAll();
        TlsMaterial original = first.join();
        Instant refreshAt = original.certificate().refreshAt();

        scheduler.advance(Duration.between(scheduler.now(), refreshAt).minusSeconds(1));
        assertThat(ca.requests).hasSize(1);
        scheduler.advance(Duration.ofSeconds(1));
        assertThat(ca.requests).hasSize(2);
        assertThat(manager.current(A)).isSameAs(original);
        ca.answerAll();

        TlsMaterial renewed = Objects.requireNonNull(manager.current(A));
        assertThat(renewed).isNotSameAs(original);
        assertThat(renewed.certificate().serialHex())
                .isNotEqualTo(original.certificate().serialHex());
        assertThat(original.isReleased()).isFalse();
        scheduler.advance(CertificateManager.RELEASE_GRACE);
        assertThat(original.isReleased()).isTrue();
        assertThat(renewed.isReleased()).isFalse();
    }

    @Test
    void failedRenewalKeepsTheOldCertificateAndRetriesWithCappedBackoff() {
        CompletableFuture<TlsMaterial> first = manager.fetch(A);
        scheduler.runPending();
        ca.answerAll();
        TlsMaterial original = first.join();
        scheduler.advance(
                Duration.between(scheduler.now(), original.certificate().refreshAt()));
        assertThat(ca.requests).hasSize(2);

        List<Duration> delays = new ArrayList<>();
        for (int attempt = 1; attempt <= 12; attempt++) {
            ca.failAll("CA unavailable");
            assertThat(manager.current(A)).isSameAs(original);
            assertThat(manager.fetch(A)).isCompletedWithValue(original);
            Instant failedAt = scheduler.now();
            Instant retry = scheduler.scheduledTimes().getFirst();
            delays.add(Duration.between(failedAt, retry));
            int before = ca.requests.size();
            scheduler.advance(Duration.between(failedAt, retry));
            assertThat(ca.requests).hasSize(before + 1);
        }
        assertThat(delays.getFirst()).isBetween(Duration.ofMillis(400), Duration.ofMillis(600));
        assertThat(delays.get(1)).isBetween(Duration.ofMillis(800), Duration.ofMillis(1200));
        assertThat(delays).allSatisfy(d -> assertThat(d).isLessThanOrEqualTo(Duration.ofSeconds(150)));
        assertThat(delays.getLast()).isGreaterThanOrEqualTo(Duration.ofSeconds(120));
        assertThat(manager.status().getFirst().state()).isEqualTo(CertificateManager.State.AVAILABLE);

        ca.answerAll();
        assertThat(manager.current(A)).isNotSameAs(original);
    }

    @Test
    void firstRequestFailureFailsTheWaitingConnectionAndMarksUnavailable() {
        CompletableFuture<TlsMaterial> first = manager.fetch(A);
        scheduler.runPending();
        ca.failAll("boom");
        assertThat(first).isCompletedExceptionally();
        assertThat(manager.status().getFirst().state()).isEqualTo(CertificateManager.State.UNAVAILABLE);
        assertThat(manager.status().getFirst().error()).contains("boom");
    }

    @Test
    void duringACaOutageConnectionsFailFastAndDoNotDefeatTheBackoff() {
        CompletableFuture<TlsMaterial> first = manager.fetch(A);
        scheduler.runPending();
        ca.failAll("UNAVAILABLE: istiod down");
        assertThat(first).isCompletedExceptionally();

        // Fifty connections while the manager backs off: each fails at once with the last error, no new CSR.
        for (int i = 0; i < 50; i++) {
            CompletableFuture<TlsMaterial> waiting = manager.fetch(A);
            scheduler.runPending();
            assertThat(waiting).isCompletedExceptionally();
            assertThat(waiting.handle((m, e) -> e.getMessage()).join()).contains("istiod down");
        }
        assertThat(ca.requests).hasSize(1);

        // The backoff (at most 600 ms for the first retry) sends exactly one more request, which then succeeds.
        scheduler.advance(Duration.ofSeconds(1));
        assertThat(ca.requests).hasSize(2);
        ca.answerAll();
        assertThat(manager.fetch(A).join().identity()).isEqualTo(A);
        assertThat(ca.requests).hasSize(2);
    }

    @Test
    void caReturningAnotherIdentityIsRejected() {
        ca.tamper = chain -> TestPki.issueChain(ca.real, B);
        CompletableFuture<TlsMaterial> first = manager.fetch(A);
        scheduler.runPending();
        ca.answerAll();
        assertThat(first).isCompletedExceptionally();
        assertThat(manager.status().getFirst().error()).contains("instead of " + A);
    }

    @Test
    void waitingConnectionsGoBeforePrefetchAndRenewalsWithAtMostTwoInFlight() {
        SpiffeId c = SpiffeId.parse("spiffe://cluster.local/ns/c/sa/c");
        SpiffeId d = SpiffeId.parse("spiffe://cluster.local/ns/d/sa/d");
        manager.prefetch(A);
        manager.prefetch(B);
        manager.prefetch(c);
        manager.fetch(d);
        scheduler.runPending();
        assertThat(ca.requests).containsExactly(A, B);
        ca.answerAll();
        assertThat(ca.requests).containsExactly(A, B, d, c);
    }

    @Test
    void forgetStopsRenewalsAndReleasesTheContexts() {
        CompletableFuture<TlsMaterial> first = manager.fetch(A);
        scheduler.runPending();
        ca.answerAll();
        TlsMaterial material = first.join();
        manager.forget(A);
        scheduler.runPending();
        assertThat(manager.current(A)).isNull();
        scheduler.advance(TTL);
        assertThat(ca.requests).hasSize(1);
        assertThat(material.isReleased()).isTrue();
    }

    @Test
    void closeReleasesEveryContextFailsWaitersAndStopsRenewalsBeforeItReturns() {
        CompletableFuture<TlsMaterial> first = manager.fetch(A);
        scheduler.runPending();
        ca.answerAll();
        TlsMaterial material = first.join();
        CompletableFuture<TlsMaterial> waiting = manager.fetch(B);
        scheduler.runPending();
        assertThat(ca.requests).containsExactly(A, B);

        // On a thread other than the one driving the scheduler (JUnit's timeout thread mode makes tearDown one too),
        // close() itself must finish the job: nothing may be left for a later scheduler pass or a timeout.
        CompletableFuture.runAsync(manager::close).join();

        assertThat(material.isReleased())
                .as("the issued TLS contexts are released")
                .isTrue();
        assertThat(waiting)
                .as("a connection still waiting for its certificate fails")
                .isCompletedExceptionally();
        assertThatThrownBy(waiting::join).hasRootCauseMessage("certificate manager closed");
        assertThat(manager.current(A)).isNull();
        assertThat(manager.status()).isEmpty();
        CompletableFuture<TlsMaterial> late = manager.fetch(A);
        scheduler.runPending();
        assertThatThrownBy(late::join).hasRootCauseMessage("certificate manager closed");
        ca.answerAll(); // B's late answer finds the manager closed
        scheduler.advance(TTL);
        assertThat(ca.requests).as("no renewal after close").containsExactly(A, B);
    }

    @Test
    void closeTwiceIsHarmless() {
        CompletableFuture<TlsMaterial> first = manager.fetch(A);
        scheduler.runPending();
        ca.answerAll();
        TlsMaterial material = first.join();
        manager.close();
        manager.close();
        assertThat(material.isReleased()).isTrue();
    }
}
