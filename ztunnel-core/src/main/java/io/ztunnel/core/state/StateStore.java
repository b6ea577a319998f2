package io.ztunnel.core.state;

import java.util.List;
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
 * <p>Thread-safe.
 */
public final class StateStore {
    private static final Logger log = LoggerFactory.getLogger(StateStore.class);

    private final AtomicReference<ProxyState> current = new AtomicReference<>(ProxyState.EMPTY);
    private final List<BiConsumer<ProxyState, ProxyState>> listeners = new CopyOnWriteArrayList<>();

    public ProxyState current() {
        return current.get();
    }

    /** Swaps in {@code next} and notifies listeners. */
    public void replace(ProxyState next) {
        ProxyState previous = current.getAndSet(next);
        for (BiConsumer<ProxyState, ProxyState> listener : listeners) {
            try {
                listener.accept(previous, next);
            } catch (RuntimeException e) {
                log.atError()
                        .setCause(e)
                        .addKeyValue("listener", listener.getClass().getName())
                        .log("state change listener failed; the new state is in force");
            }
        }
    }

    /** Adds a listener called with (previous, next) after each replacement. */
    public void onChange(BiConsumer<ProxyState, ProxyState> listener) {
        listeners.add(listener);
    }
}
