package io.ztunnel.cni.agent;

import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.zds.WorkloadInfo;
import io.ztunnel.cni.zds.ZdsServer;
import java.util.concurrent.CompletableFuture;

/**
 * The two ZDS calls the agent makes, so the loop can be tested without a socket. The real one is
 * {@link #of(ZdsServer)}. Implementations must not block and must be thread-safe.
 */
public interface ZdsPort {
    /** {@link ZdsServer#addWorkload}: to the newest daemon; fails without a daemon or on a NACK. */
    CompletableFuture<Void> addWorkload(String uid, WorkloadInfo info, PodNetns netns);

    /** {@link ZdsServer#deleteWorkload}: to every daemon. */
    CompletableFuture<Void> deleteWorkload(String uid);

    static ZdsPort of(ZdsServer server) {
        return new ZdsPort() {
            @Override
            public CompletableFuture<Void> addWorkload(String uid, WorkloadInfo info, PodNetns netns) {
                return server.addWorkload(uid, info, netns);
            }

            @Override
            public CompletableFuture<Void> deleteWorkload(String uid) {
                return server.deleteWorkload(uid);
            }
        };
    }
}
