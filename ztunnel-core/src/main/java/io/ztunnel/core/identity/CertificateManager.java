package io.ztunnel.core.identity;

import io.ztunnel.core.util.Backoff;
import io.ztunnel.core.util.Errors;
import io.ztunnel.core.util.Scheduler;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Workload certificates, one cache entry per SPIFFE identity, shared by every local workload with that identity.
 *
 * <ul>
 *   <li>{@link #fetch} returns the current TLS material, or requests a certificate at the highest priority when there
 *       is none yet (a connection is waiting); {@link #prefetch} requests one at warm-up priority; renewals run at
 *       background priority. At most {@code maxInFlight} requests are outstanding; the rest queue by priority.
 *   <li>A certificate is renewed half-way through its lifetime. A failed request keeps the valid old certificate and is
 *       retried with exponential backoff (500 ms doubling, ±20 % jitter, capped at 150 s, never later than expiry).
 *   <li>On renewal the new contexts replace the old ones at once; the old contexts are released after a grace period
 *       so that handshakes started with them finish (open connections are not affected at all).
 * </ul>
 *
 * <p>Threading: all state changes happen on the {@link Scheduler}'s thread. {@link #fetch} may be called from any
 * thread; its fast path is a map lookup and a volatile read.
 */
public final class CertificateManager implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CertificateManager.class);

    /** Retries of failed requests: 500 ms doubling, ±20 % jitter, capped at 150 s, as Istio's ztunnel. */
    static final Backoff RETRY = Backoff.exponential(Duration.ofMillis(500), Duration.ofSeconds(150), 0.2);

    static final Duration RELEASE_GRACE = Duration.ofSeconds(60);
    public static final int DEFAULT_MAX_IN_FLIGHT = 8;

    /** Request priority: a waiting connection first, then prefetch for new local workloads, then renewals. */
    public enum Priority {
        REALTIME,
        WARMUP,
        BACKGROUND
    }

    /** Lifecycle of one identity's certificate, as shown in {@code /config_dump}. */
    public enum State {
        INITIALIZING,
        AVAILABLE,
        UNAVAILABLE
    }

    /** A read-only view of one entry. */
    public record Status(
            SpiffeId identity,
            State state,
            @Nullable String error,
            @Nullable WorkloadCertificate certificate) {}

    private final CertificateAuthority ca;
    private final Duration ttl;
    private final TlsSettings tlsSettings;
    private final Scheduler scheduler;
    private final int maxInFlight;
    private final Map<SpiffeId, Entry> entries = new ConcurrentHashMap<>();
    /** Replaced or forgotten contexts waiting out their grace period before release (scheduler thread only). */
    private final Set<TlsMaterial> retiring = new HashSet<>();

    private final PriorityQueue<Entry> queue = new PriorityQueue<>(
            Comparator.<Entry, Priority>comparing(e -> e.queuedPriority).thenComparingLong(e -> e.queuedSeq));
    private long seq;
    private int inFlight;
    private boolean closed;

    public CertificateManager(
            CertificateAuthority ca, Duration ttl, TlsSettings tlsSettings, Scheduler scheduler, int maxInFlight) {
        this.ca = ca;
        this.ttl = ttl;
        this.tlsSettings = tlsSettings;
        this.scheduler = scheduler;
        this.maxInFlight = maxInFlight;
    }

    public CertificateAuthority authority() {
        return ca;
    }

    /**
     * The TLS material for {@code identity}: completed at once when a valid certificate is cached, otherwise when the
     * CA answers (or exceptionally when it fails).
     */
    public CompletableFuture<TlsMaterial> fetch(SpiffeId identity) {
        Entry entry = entries.get(identity);
        if (entry != null) {
            TlsMaterial material = entry.material;
            if (material != null && !material.certificate().isExpired(scheduler.now())) {
                return CompletableFuture.completedFuture(material);
            }
        }
        CompletableFuture<TlsMaterial> result = new CompletableFuture<>();
        scheduler.execute(() -> fetchOnScheduler(identity, result));
        return result;
    }

    /** The cached material, or {@code null}; never triggers a request. */
    public @Nullable TlsMaterial current(SpiffeId identity) {
        Entry entry = entries.get(identity);
        return entry == null ? null : entry.material;
    }

    /** Requests a certificate for a new local workload's identity ahead of its first connection. */
    public void prefetch(SpiffeId identity) {
        scheduler.execute(() -> {
            if (closed) {
                return;
            }
            Entry entry = entries.computeIfAbsent(identity, Entry::new);
            if (entry.material == null) {
                request(entry, Priority.WARMUP);
            }
        });
    }

    /** Drops the identity (its last local workload is gone): no more renewals, contexts released after the grace. */
    public void forget(SpiffeId identity) {
        scheduler.execute(() -> {
            Entry entry = entries.remove(identity);
            if (entry != null) {
                entry.forgotten = true;
                drop(entry, new IllegalStateException("certificate for " + identity + " is no longer needed"));
                log.atDebug().addKeyValue("identity", identity).log("forgot workload certificate");
            }
        });
    }

    /** Every entry, sorted by identity. */
    public List<Status> status() {
        List<Status> out = new ArrayList<>();
        for (Entry e : entries.values()) {
            TlsMaterial material = e.material;
            out.add(new Status(e.identity, e.state, e.error, material == null ? null : material.certificate()));
        }
        out.sort(Comparator.comparing(s -> s.identity().toString()));
        return out;
    }

    /** Stops renewals and releases every TLS context; waits (up to 5 s) for the scheduler to do it. */
    @Override
    public void close() {
        Runnable closing = () -> {
            closed = true;
            for (Entry entry : entries.values()) {
                drop(entry, new IllegalStateException("certificate manager closed"));
                TlsMaterial material = entry.material;
                if (material != null) {
                    material.release();
                }
            }
            entries.clear();
            queue.clear();
            retiring.forEach(TlsMaterial::release);
            retiring.clear();
        };
        if (scheduler.inScheduler()) {
            closing.run();
            return;
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        try {
            scheduler.execute(() -> {
                closing.run();
                done.complete(null);
            });
            done.get(5, TimeUnit.SECONDS);
        } catch (RejectedExecutionException e) {
            closing.run(); // the scheduler is already gone: nothing else can run concurrently
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            log.atWarn().addKeyValue("error", Errors.message(e)).log("certificate manager did not close in time");
        }
    }

    /** Releases {@code material} after the grace period (or at close, whichever comes first). */
    private void retire(TlsMaterial material) {
        if (retiring.add(material)) {
            scheduler.schedule(
                    () -> {
                        if (retiring.remove(material)) {
                            material.release();
                        }
                    },
                    RELEASE_GRACE);
        }
    }

    private void fetchOnScheduler(SpiffeId identity, CompletableFuture<TlsMaterial> result) {
        if (closed) {
            result.completeExceptionally(new IllegalStateException("certificate manager closed"));
            return;
        }
        Entry entry = entries.computeIfAbsent(identity, Entry::new);
        TlsMaterial material = entry.material;
        if (material != null && !material.certificate().isExpired(scheduler.now())) {
            result.complete(material);
            return;
        }
        entry.waiters.add(result);
        request(entry, Priority.REALTIME);
    }

    private void request(Entry entry, Priority priority) {
        if (entry.inFlight) {
            return;
        }
        boolean noValidCertificate =
                entry.material == null || entry.material.certificate().isExpired(scheduler.now());
        if (entry.retryTask != null) {
            // Waiting for a backoff or a renewal time: only a connection with nothing to use jumps the wait.
            if (priority != Priority.REALTIME || !noValidCertificate) {
                return;
            }
            if (entry.failures > 0) {
                // Backing off after a failure: waiting connections fail at once with the last error instead of
                // sending one more CSR each, which would hammer a CA that is already struggling.
                failWaiters(
                        entry,
                        new IllegalStateException("no certificate for " + entry.identity
                                + ": the last request failed (attempt " + entry.failures + ", retrying with backoff): "
                                + entry.error));
                return;
            }
            entry.retryTask.cancel();
            entry.retryTask = null;
        }
        if (entry.queued) {
            if (priority.compareTo(entry.queuedPriority) < 0) {
                queue.remove(entry);
                entry.queuedPriority = priority;
                queue.add(entry);
            }
            return;
        }
        entry.queued = true;
        entry.queuedPriority = priority;
        entry.queuedSeq = seq++;
        queue.add(entry);
        dispatch();
    }

    private void dispatch() {
        while (inFlight < maxInFlight && !queue.isEmpty()) {
            Entry entry = queue.poll();
            entry.queued = false;
            start(entry);
        }
    }

    private void start(Entry entry) {
        inFlight++;
        entry.inFlight = true;
        KeyPair keyPair;
        String csr;
        try {
            keyPair = Csr.newP256KeyPair();
            csr = Csr.create(entry.identity, keyPair);
        } catch (RuntimeException e) {
            scheduler.execute(() -> finished(entry, null, null, e));
            return;
        }
        try {
            ca.sign(entry.identity, csr, ttl)
                    .whenComplete((chain, error) -> scheduler.execute(() -> finished(entry, keyPair, chain, error)));
        } catch (RuntimeException e) {
            scheduler.execute(() -> finished(entry, keyPair, null, e));
        }
    }

    private void finished(
            Entry entry, @Nullable KeyPair keyPair, @Nullable IssuedChain chain, @Nullable Throwable error) {
        inFlight--;
        entry.inFlight = false;
        try {
            if (entry.forgotten || closed) {
                return;
            }
            TlsMaterial fresh = null;
            if (error == null) {
                try {
                    fresh = TlsMaterial.create(checked(entry.identity, keyPair, chain), tlsSettings);
                } catch (RuntimeException e) {
                    error = e;
                }
            }
            if (fresh != null) {
                installed(entry, fresh);
            } else {
                failed(entry, unwrap(Objects.requireNonNull(error, "a request ended with neither material nor error")));
            }
        } finally {
            dispatch();
        }
    }

    private static WorkloadCertificate checked(
            SpiffeId identity, @Nullable KeyPair keyPair, @Nullable IssuedChain chain) {
        if (keyPair == null || chain == null) {
            throw new IllegalArgumentException("CA returned no certificate chain");
        }
        X509Certificate leaf = chain.leaf();
        SpiffeId first = Certificates.firstSpiffeId(leaf);
        if (!identity.equals(first)) {
            throw new IllegalArgumentException("CA returned a certificate for "
                    + (first == null ? "no SPIFFE identity (URI SANs " + Certificates.uriSans(leaf) + ")" : first)
                    + " instead of " + identity);
        }
        if (!leaf.getPublicKey().equals(keyPair.getPublic())) {
            throw new IllegalArgumentException("CA returned a certificate for a different key");
        }
        return new WorkloadCertificate(identity, keyPair.getPrivate(), chain.leafAndIntermediates(), chain.roots());
    }

    private void installed(Entry entry, TlsMaterial fresh) {
        TlsMaterial old = entry.material;
        entry.material = fresh;
        entry.state = State.AVAILABLE;
        entry.error = null;
        entry.failures = 0;
        if (old != null) {
            retire(old);
        }
        WorkloadCertificate certificate = fresh.certificate();
        Duration untilRefresh = Duration.between(scheduler.now(), certificate.refreshAt());
        entry.retryTask = scheduler.schedule(
                () -> {
                    entry.retryTask = null;
                    if (!entry.forgotten && !closed) {
                        request(entry, Priority.BACKGROUND);
                    }
                },
                untilRefresh.isNegative() ? Duration.ZERO : untilRefresh);
        log.atInfo()
                .addKeyValue("identity", entry.identity)
                .addKeyValue("serial", certificate.serialHex())
                .addKeyValue("expires", certificate.notAfter())
                .addKeyValue("refresh", certificate.refreshAt())
                .log(old == null ? "workload certificate issued" : "workload certificate renewed");
        List<CompletableFuture<TlsMaterial>> waiters = List.copyOf(entry.waiters);
        entry.waiters.clear();
        for (CompletableFuture<TlsMaterial> waiter : waiters) {
            waiter.complete(fresh);
        }
    }

    private void failed(Entry entry, Throwable error) {
        entry.failures++;
        entry.error = Errors.message(error);
        Instant now = scheduler.now();
        TlsMaterial current = entry.material;
        boolean usable = current != null && !current.certificate().isExpired(now);
        if (!usable) {
            entry.state = State.UNAVAILABLE;
        }
        Duration delay = RETRY.delay(entry.failures);
        if (usable && current != null) {
            Duration untilExpiry = Duration.between(now, current.certificate().notAfter());
            if (untilExpiry.compareTo(delay) < 0) {
                delay = untilExpiry;
            }
        }
        log.atWarn()
                .addKeyValue("identity", entry.identity)
                .addKeyValue("attempt", entry.failures)
                .addKeyValue("retry_in", delay)
                .addKeyValue("error", entry.error)
                .log(
                        usable
                                ? "certificate renewal failed; keeping the current certificate"
                                : "certificate request failed");
        entry.retryTask = scheduler.schedule(
                () -> {
                    entry.retryTask = null;
                    if (!entry.forgotten && !closed) {
                        request(entry, entry.waiters.isEmpty() ? Priority.BACKGROUND : Priority.REALTIME);
                    }
                },
                delay);
        List<CompletableFuture<TlsMaterial>> waiters = List.copyOf(entry.waiters);
        entry.waiters.clear();
        for (CompletableFuture<TlsMaterial> waiter : waiters) {
            if (usable) {
                waiter.complete(current);
            } else {
                waiter.completeExceptionally(error);
            }
        }
    }

    private static void failWaiters(Entry entry, Throwable error) {
        List<CompletableFuture<TlsMaterial>> waiters = List.copyOf(entry.waiters);
        entry.waiters.clear();
        waiters.forEach(w -> w.completeExceptionally(error));
    }

    private void drop(Entry entry, Throwable reason) {
        if (entry.retryTask != null) {
            entry.retryTask.cancel();
            entry.retryTask = null;
        }
        if (entry.queued) {
            queue.remove(entry);
            entry.queued = false;
        }
        failWaiters(entry, reason);
        TlsMaterial material = entry.material;
        if (material != null && !closed) {
            retire(material);
        }
    }

    private static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** Mutable per-identity state, touched only on the scheduler thread (except the volatile {@code material}). */
    private static final class Entry {
        final SpiffeId identity;
        volatile @Nullable TlsMaterial material;
        volatile State state = State.INITIALIZING;
        volatile @Nullable String error;
        final List<CompletableFuture<TlsMaterial>> waiters = new ArrayList<>();
        boolean queued;

        @Nullable
        Priority queuedPriority;

        long queuedSeq;
        boolean inFlight;
        boolean forgotten;
        int failures;
        Scheduler.@Nullable Cancellable retryTask;

        Entry(SpiffeId identity) {
            this.identity = identity;
        }
    }
}
