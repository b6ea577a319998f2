package io.ztunnel.core.proxy;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The live proxied connections of the daemon: for the admin API, for closing inbound connections that a policy
 * change no longer allows, and for the forced close at the end of a drain. Thread-safe.
 */
public final class ConnectionTracker {
    private final Map<Long, ConnectionRecord> live = new ConcurrentHashMap<>();

    void add(ConnectionRecord record) {
        live.put(record.id(), record);
    }

    void remove(ConnectionRecord record) {
        live.remove(record.id());
    }

    /** Live connections, oldest first. */
    public List<ConnectionRecord> snapshot() {
        List<ConnectionRecord> out = new ArrayList<>(live.values());
        out.sort(Comparator.comparingLong(ConnectionRecord::id));
        return out;
    }

    public int size() {
        return live.size();
    }

    /** Closes the live connections of one proxy (its pod is gone). */
    public void abortOwnedBy(String owner, String reason) {
        for (ConnectionRecord r : live.values()) {
            if (r.owner().equals(owner)) {
                r.abort(reason);
            }
        }
    }

    /** Closes every live connection (end of drain). */
    public void abortAll(String reason) {
        for (ConnectionRecord r : live.values()) {
            r.abort(reason);
        }
    }
}
