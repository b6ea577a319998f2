package io.ztunnel.core.proxy;

import io.ztunnel.core.util.Drain;
import io.ztunnel.core.util.Subscription;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.jspecify.annotations.Nullable;

/**
 * The live proxied connections of the daemon: for the admin API, for closing inbound connections that a policy
 * change no longer allows, and for the drain, which each live connection holds open with a lease until it ends.
 * Thread-safe.
 */
public final class ConnectionTracker {
    private final Map<Long, Live> live = new ConcurrentHashMap<>();
    private final Drain drain;

    private record Live(ConnectionRecord record, Subscription lease, CompletableFuture<@Nullable Void> ended) {}

    /** @param drain the drain that waits for live connections to end */
    public ConnectionTracker(Drain drain) {
        this.drain = drain;
    }

    /** A tracker whose connections hold up no drain anyone waits for (tools and benchmarks). */
    public ConnectionTracker() {
        this(new Drain());
    }

    void add(ConnectionRecord record) {
        live.put(record.id(), new Live(record, drain.track(), new CompletableFuture<>()));
    }

    void remove(ConnectionRecord record) {
        Live removed = live.remove(record.id());
        if (removed != null) {
            removed.lease().close();
            removed.ended().complete(null);
        }
    }

    /** Live connections, oldest first. */
    public List<ConnectionRecord> snapshot() {
        List<ConnectionRecord> out = new ArrayList<>(live.size());
        for (Live l : live.values()) {
            out.add(l.record());
        }
        out.sort(Comparator.comparingLong(ConnectionRecord::id));
        return out;
    }

    public int size() {
        return live.size();
    }

    /**
     * Closes the live connections of one proxy (its pod is gone).
     *
     * @return completes once every one of them has ended (their sockets are closed)
     */
    public CompletableFuture<@Nullable Void> abortOwnedBy(String owner, String reason) {
        List<CompletableFuture<@Nullable Void>> ended = new ArrayList<>();
        for (Live l : live.values()) {
            if (l.record().owner().equals(owner)) {
                ended.add(l.ended());
                l.record().abort(reason);
            }
        }
        return CompletableFuture.allOf(ended.toArray(CompletableFuture[]::new)).thenApply(v -> null);
    }

    /**
     * Closes every live connection (end of drain). Every record gets the reason before the first is closed, since
     * closing one can end another first.
     */
    public void abortAll(String reason) {
        List<Live> all = List.copyOf(live.values());
        for (Live l : all) {
            l.record().closing(reason);
        }
        for (Live l : all) {
            l.record().abort(reason);
        }
    }
}
