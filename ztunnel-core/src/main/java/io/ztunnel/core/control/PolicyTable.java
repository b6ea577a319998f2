package io.ztunnel.core.control;

import io.ztunnel.core.state.Authorization;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;

/**
 * The authorization policies an xDS source holds, by resource name, as model objects (kept apart from the handler,
 * which speaks the proto type of the same name). Not thread-safe: guarded by its owner.
 */
final class PolicyTable {
    private final Map<String, Authorization> byName = new HashMap<>();

    void put(String name, Authorization policy) {
        byName.put(name, policy);
    }

    /** Whether {@code name} was held. */
    boolean remove(String name) {
        return byName.remove(name) != null;
    }

    Collection<Authorization> all() {
        return byName.values();
    }

    int size() {
        return byName.size();
    }
}
