package io.ztunnel.core.proxy;

import io.ztunnel.core.config.Config.LocalWorkloadInfo;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.core.state.Workload;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The workload a proxy acts for (the source of its outbound traffic, the destination of its inbound traffic), found in
 * the current state by name, namespace and service account (and node, when {@code NODE_NAME} is set). Connections that
 * arrive before the control plane has described the workload wait up to 5 s for it, as ztunnel does.
 *
 * <p>Thread-safe. Waiters are completed on the thread that replaces the state, or on the timer's thread.
 */
public final class LocalWorkload {
    public static final Duration WAIT = Duration.ofSeconds(5);

    private final LocalWorkloadInfo info;
    private final String node;
    private final StateStore store;
    private final ScheduledExecutorService timer;
    private final ConcurrentLinkedQueue<CompletableFuture<Workload>> waiters = new ConcurrentLinkedQueue<>();
    /** The last lookup, valid while the store still holds the same snapshot (a lookup scans every workload). */
    private volatile Cached cached = new Cached(null, null);

    private record Cached(ProxyState state, Workload workload) {}

    public LocalWorkload(LocalWorkloadInfo info, String node, StateStore store, ScheduledExecutorService timer) {
        this.info = info;
        this.node = node == null ? "" : node;
        this.store = store;
        this.timer = timer;
        store.onChange((previous, next) -> {
            Workload found = find(next);
            if (found != null) {
                CompletableFuture<Workload> waiter;
                while ((waiter = waiters.poll()) != null) {
                    waiter.complete(found);
                }
            }
        });
    }

    public LocalWorkloadInfo info() {
        return info;
    }

    /** The workload in {@code state}, or null. */
    public Workload find(ProxyState state) {
        Cached c = cached;
        if (c.state() == state) {
            return c.workload();
        }
        Workload found = scan(state);
        cached = new Cached(state, found);
        return found;
    }

    private Workload scan(ProxyState state) {
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
