package io.ztunnel.core.state;

import java.util.Collection;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * On-demand addresses ({@code XDS_ON_DEMAND}): the waiters of addresses the data plane asked istiod for by name, and
 * the hook that sends those requests. Off until the xDS control plane {@linkplain #enable enables} it.
 *
 * <p>The semantics follow Istio's ztunnel. A wait is one-shot and has no timeout of its own: it ends when an address
 * response adds or removes a resource whose name equals the demanded one ({@link #received}; aliases do not count),
 * after that response's state was published, and the caller then re-reads the store (still missing = not found). A
 * second demand for a name that is being waited for ends the earlier wait (that caller re-reads too) and sends the
 * request again. {@link #close()} ends every wait and turns demands off, so a daemon that stops never leaves a
 * connection waiting; what bounds a wait otherwise is the client itself (its connect or read timeout closes the
 * connection, which then goes no further once the wait ends).
 *
 * <p>Thread-safe: demands come from data-plane event loops, {@link #received} from the ADS client's thread. Waiters
 * complete on the thread that ends them; callers hop back to their own loop.
 */
public final class OnDemand {
    private static final Logger log = LoggerFactory.getLogger(OnDemand.class);

    private final Map<String, CompletableFuture<Void>> waiters = new ConcurrentHashMap<>();
    private volatile @Nullable Consumer<String> requester;
    private volatile boolean closed;

    /** Turns demands on: {@code requester} sends one request for a name (it must not block). */
    public void enable(Consumer<String> requester) {
        this.requester = Objects.requireNonNull(requester, "requester");
    }

    /** Whether missing addresses are asked for (on-demand xDS is on and not closed). */
    public boolean enabled() {
        return requester != null && !closed;
    }

    /**
     * Asks for {@code name} and returns the wait for its answer; a wait already running for it completes now. Completes
     * at once when demands are off.
     */
    public CompletableFuture<Void> demand(String name) {
        Consumer<String> send = requester;
        if (send == null || closed) {
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<Void> waiter = new CompletableFuture<>();
        CompletableFuture<Void> previous = waiters.put(name, waiter);
        if (previous != null) {
            previous.complete(null);
        }
        if (closed) { // closed while we registered: close() may have missed this waiter
            waiters.remove(name, waiter);
            waiter.complete(null);
            return waiter;
        }
        log.atDebug().addKeyValue("name", name).log("address not known; asking istiod for it");
        try {
            send.accept(name);
        } catch (RuntimeException e) {
            log.atWarn()
                    .addKeyValue("name", name)
                    .setCause(e)
                    .log("on-demand address request failed; treating the address as not found");
            waiters.remove(name, waiter);
            waiter.complete(null);
        }
        return waiter;
    }

    /** An address response named these resources (added or removed) and its state is published: wake their waiters. */
    public void received(Collection<String> names) {
        if (waiters.isEmpty()) {
            return;
        }
        for (String name : names) {
            CompletableFuture<Void> waiter = waiters.remove(name);
            if (waiter != null) {
                log.atDebug().addKeyValue("name", name).log("on-demand address answered");
                waiter.complete(null);
            }
        }
    }

    /** How many names are being waited for (diagnostics and tests). */
    public int waiting() {
        return waiters.size();
    }

    /** Ends every wait and turns demands off for good (the control plane stopped). Idempotent. */
    public void close() {
        closed = true;
        for (String name : waiters.keySet()) {
            CompletableFuture<Void> waiter = waiters.remove(name);
            if (waiter != null) {
                waiter.complete(null);
            }
        }
    }
}
