package io.ztunnel.cni.zds;

import io.ztunnel.cni.linux.PodNetns;
import java.util.Set;
import java.util.concurrent.CompletionStage;

/**
 * What the daemon does with ZDS events; implemented by the daemon's core, called by {@link
 * ZdsClient}. The protocol layer knows nothing of proxies: it only validates messages, calls these
 * methods and turns their outcome into an ACK or a NACK.
 *
 * <p><b>Threading.</b> Every callback runs on the ZDS client thread, one at a time, in message
 * order. For the methods returning a stage, the ACK (normal completion) or NACK (exceptional
 * completion, carrying the exception's message) is sent when the stage completes, and the next
 * message is not read before that; so complete it promptly (the node agent gives up after 5 s) and
 * never block the ZDS thread on work that itself waits for ZDS. A callback that throws instead of
 * returning is treated like an exceptionally completed stage.
 */
public interface ZdsWorkloadHandler {
    /**
     * Start the proxies of a pod, or keep them if they already run in the same network namespace
     * (compare {@link PodNetns#id()}); a different namespace for a known uid means the sandbox was
     * recreated. Takes ownership of {@code netns} in every case, including when it throws.
     */
    CompletionStage<Void> addWorkload(String uid, WorkloadInfo info, PodNetns netns);

    /** Before the snapshot only: this uid is still wanted, its netns is not being resent. */
    void keepWorkload(String uid);

    /** Stop that pod's proxies now (its netns is usually gone already). */
    CompletionStage<Void> deleteWorkload(String uid);

    /**
     * The initial snapshot is complete: drop every workload whose uid is not in {@code
     * namedSinceConnect} (every uid added or kept, and not deleted, on this connection).
     */
    CompletionStage<Void> snapshotSent(Set<String> namedSinceConnect);

    /**
     * The connection to the node agent is gone (readiness must drop); the client reconnects by itself
     * and a new snapshot follows.
     */
    void disconnected(Throwable cause);

    /**
     * The node agent broke the protocol (a second SnapshotSent, Keep after the snapshot, Add without
     * workload_info). The client has sent a NACK and stopped for good; the daemon must exit.
     */
    void protocolViolation(String message);
}
