package io.ztunnel.cni.agent;

import java.io.IOException;
import java.util.function.Consumer;

/**
 * Where the agent learns about pods and namespaces: the local file now, Kubernetes informers later.
 * A source publishes whole {@link ClusterView}s; the agent works out what changed.
 *
 * <p>Threading: {@link #start} returns after the first view was delivered (so the agent's first
 * reconcile sees the full picture) and then delivers later views from a thread of the source's
 * own, one at a time. The listener must not block for long. {@link #close()} stops delivery.
 */
public interface PodSource extends AutoCloseable {
    /**
     * Delivers the current view to {@code listener}, then keeps delivering changes.
     *
     * @throws IOException if the initial view cannot be had (the agent does not start then)
     */
    void start(Consumer<ClusterView> listener) throws IOException;

    @Override
    void close();
}
