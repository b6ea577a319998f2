package io.ztunnel.core.proxy;

import io.ztunnel.core.config.Config.LocalWorkloadInfo;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.core.state.Workload;
import io.ztunnel.core.util.LogSpan;
import io.ztunnel.core.util.Subscription;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jspecify.annotations.Nullable;

/**
 * The workload a proxy acts for (the source of its outbound traffic, the destination of its inbound traffic), found in
 * the current state by name, namespace and service account (and node, when {@code NODE_NAME} is set). Connections that
 * arrive before the control plane has described the workload wait up to 5 s for it, as ztunnel does.
 *
 * <p>Lifecycle: it listens to the state store from construction until {@link #close}, which its owner (the proxy set)
 * calls when the proxy goes away; waiters still pending then fail. Thread-safe. Waiters are completed on the thread
 * that replaces the state, on the timer's thread, or on the closing thread.
 */
public final class LocalWorkload implements AutoCloseable {
    public static final Duration WAIT = Duration.ofSeconds(5);

    private final LocalWorkloadInfo info;
    private final String node;
    private final StateStore store;
    private final ScheduledExecutorService timer;
    private final @Nullable LogSpan proxySpan;
    private final @Nullable LogSpan dnsSpan;
    private final ConcurrentLinkedQueue<CompletableFuture<Workload>> waiters = new ConcurrentLinkedQueue<>();
    /** The last lookup, valid while the store still holds the same snapshot (a lookup scans every workload). */
    private volatile Cached cached = new Cached(null, null);

    private final Subscription subscription;
    private volatile boolean closed;

    private record Cached(
            @Nullable ProxyState state, @Nullable Workload workload) {}

    public LocalWorkload(LocalWorkloadInfo info, String node, StateStore store, ScheduledExecutorService timer) {
        this(info, node, store, timer, false);
    }

    /**
     * @param inPod whether this is an enrolled pod's proxy (in-pod mode): its log lines then carry upstream's spans
     *     {@code proxy{wl=ns/name}} and {@code dns_proxy{wl=ns/name}}
     */
    public LocalWorkload(
            LocalWorkloadInfo info, String node, StateStore store, ScheduledExecutorService timer, boolean inPod) {
        this.info = info;
        this.proxySpan = inPod ? LogSpan.proxy(info.namespace(), info.name()) : null;
        this.dnsSpan = inPod ? LogSpan.dnsProxy(info.namespace(), info.name()) : null;
        this.node = node == null ? "" : node;
        this.store = store;
        this.timer = timer;
        this.subscription = store.subscribe((previous, next) -> {
            Workload found = find(next);
            if (found != null) {
                CompletableFuture<Workload> waiter;
                while ((waiter = waiters.poll()) != null) {
                    waiter.complete(found);
                }
            }
        });
    }

    /** Stops following the state; connections still waiting for the workload fail. */
    @Override
    public void close() {
        closed = true;
        subscription.close();
        CompletableFuture<Workload> waiter;
        while ((waiter = waiters.poll()) != null) {
            waiter.completeExceptionally(new IllegalStateException("the proxy for " + info + " was closed"));
        }
    }

    public LocalWorkloadInfo info() {
        return info;
    }

    /** The span of the proxy's log lines ({@code proxy{wl=ns/name}} for a pod), or null (dedicated mode). */
    public @Nullable LogSpan proxySpan() {
        return proxySpan;
    }

    /** The span of the DNS proxy's log lines ({@code dns_proxy{wl=ns/name}} for a pod), or null (dedicated mode). */
    public @Nullable LogSpan dnsSpan() {
        return dnsSpan;
    }

    /** The workload in {@code state}, or null. */
    public @Nullable Workload find(ProxyState state) {
        Cached c = cached;
        if (c.state() == state) {
            return c.workload();
        }
        Workload found = scan(state);
        cached = new Cached(state, found);
        return found;
    }

    private @Nullable Workload scan(ProxyState state) {
        for (Workload w : state.workloads()) {
            if (w.name().equals(info.name())
                    && w.namespace().equals(info.namespace())
                    && w.serviceAccount().equals(info.serviceAccount())
                    && (node.isEmpty() || w.node().isEmpty() || w.node().equals(node))) {
                return w;
            }
        }
        return null;
    }

    /** The workload now, or as soon as it appears (failing after {@link #WAIT}). */
    public CompletableFuture<Workload> get() {
        Workload now = find(store.current());
        if (now != null) {
            return CompletableFuture.completedFuture(now);
        }
        if (closed) {
            return CompletableFuture.failedFuture(new IllegalStateException("the proxy for " + info + " was closed"));
        }
        CompletableFuture<Workload> waiter = new CompletableFuture<>();
        waiters.add(waiter);
        Workload raced = find(store.current()); // the state may have changed before we queued
        if (raced != null) {
            waiters.remove(waiter);
            waiter.complete(raced);
            return waiter;
        }
        timer.schedule(
                () -> {
                    if (waiters.remove(waiter)) {
                        waiter.completeExceptionally(new TimeoutException(
                                "local workload " + info + " not found in " + WAIT.toSeconds() + " s"));
                    }
                },
                WAIT.toMillis(),
                TimeUnit.MILLISECONDS);
        return waiter;
    }
}
