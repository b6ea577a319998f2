package io.ztunnel.core.state;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiConsumer;

/**
 * Holds the current {@link ProxyState}. Readers take {@link #current()} once per connection; the control plane
 * ({@code LOCAL_XDS_PATH} watcher or the xDS client) is the only writer and replaces the whole snapshot. Listeners are
 * told about every replacement (old, new) on the writer's thread, after the swap.
 *
 * <p>Thread-safe.
 */
public final class StateStore {
    private final AtomicReference<ProxyState> current = new AtomicReference<>(ProxyState.EMPTY);
    private final List<BiConsumer<ProxyState, ProxyState>> listeners = new CopyOnWriteArrayList<>();

    public ProxyState current() {
        return current.get();
    }

    /** Swaps in {@code next} and notifies listeners. */
    public void replace(ProxyState next) {
        ProxyState previous = current.getAndSet(next);
        for (BiConsumer<ProxyState, ProxyState> listener : listeners) {
            listener.accept(previous, next);
        }
    }

    /** Adds a listener called with (previous, next) after each replacement. */
    public void onChange(BiConsumer<ProxyState, ProxyState> listener) {
        listeners.add(listener);
    }
}
