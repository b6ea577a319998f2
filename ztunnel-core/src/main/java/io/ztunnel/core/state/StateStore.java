package io.ztunnel.core.state;

import io.ztunnel.core.util.Subscription;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Holds the current {@link ProxyState}. Readers take {@link #current()} once per connection; the control plane
 * ({@code LOCAL_XDS_PATH} watcher or the xDS client) is the only writer and replaces the whole snapshot. Listeners are
 * told about every replacement (old, new) on the writer's thread, after the swap. A listener that throws is logged and
 * does not stop the others nor undo the swap: the new state is in force either way, so the writer must not report it
 * as rejected.
 *
 * <p>With on-demand xDS the store also carries the {@link OnDemand} waiters: {@link #fetch} is how the data plane
 * reads an address that may have to be asked for first.
 *
 * <p>Thread-safe.
 */
public final class StateStore {
    private static final Logger log = LoggerFactory.getLogger(StateStore.class);

    private final AtomicReference<ProxyState> current = new AtomicReference<>(ProxyState.EMPTY);
    private final List<Listener> listeners = new CopyOnWriteArrayList<>();
    private final OnDemand onDemand = new OnDemand();

    public ProxyState current() {
        return current.get();
    }

    /** The on-demand waiters; off unless the xDS control plane enabled them. */
    public OnDemand onDemand() {
        return onDemand;
    }

    /**
     * The state to look {@code address} up in: the current one at once when it has a workload or service at that
     * address or on-demand xDS is off; otherwise the state read again after istiod answered a demand for {@code
     * network/ip} (it may still lack the address: not found). See {@link OnDemand} for when the wait ends.
     */
    public CompletableFuture<ProxyState> fetch(NetworkAddress address) {
        ProxyState state = current();
        if (!onDemand.enabled() || knows(state, address)) {
            return CompletableFuture.completedFuture(state);
        }
        return onDemand.demand(address.toString()).thenApply(ignored -> current());
    }

    private static boolean knows(ProxyState state, NetworkAddress address) {
        return state.workloadByAddress(address) != null
                || !state.servicesByVip(address).isEmpty();
    }

    /** Swaps in {@code next} and notifies listeners. */
    public void replace(ProxyState next) {
        ProxyState previous = current.getAndSet(next);
        for (Listener listener : listeners) {
            try {
                listener.callback().accept(previous, next);
            } catch (RuntimeException e) {
                log.atError()
                        .setCause(e)
                        .addKeyValue("listener", listener.callback().getClass().getName())
                        .log("state change listener failed; the new state is in force");
            }
        }
    }

    /**
     * Adds a listener called with (previous, next) after each replacement, until the returned subscription is closed.
     * Whoever subscribes owns the subscription and closes it when it goes away (a pod's proxies, the daemon).
     */
    public Subscription subscribe(BiConsumer<ProxyState, ProxyState> listener) {
        Listener registered = new Listener(listener);
        listeners.add(registered);
        return () -> listeners.remove(registered);
    }

    /** How many listeners are subscribed (for tests and the admin API). */
    public int listenerCount() {
        return listeners.size();
    }

    /** A subscription's entry, equal only to itself: one callback subscribed twice is removed once per close. */
    private static final class Listener {
        private final BiConsumer<ProxyState, ProxyState> callback;

        Listener(BiConsumer<ProxyState, ProxyState> callback) {
            this.callback = callback;
        }

        BiConsumer<ProxyState, ProxyState> callback() {
            return callback;
        }
    }
}
