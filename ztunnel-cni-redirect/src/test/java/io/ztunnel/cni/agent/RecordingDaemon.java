package io.ztunnel.cni.agent;

import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.zds.WorkloadInfo;
import io.ztunnel.cni.zds.ZdsWorkloadHandler;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Predicate;

/**
 * The daemon side for agent tests: a {@link ZdsWorkloadHandler} (driven by the real {@link
 * io.ztunnel.cni.zds.ZdsClient}) that records each event as text ({@code add <uid> <ns/name>
 * <netns id>}, {@code del <uid>}, {@code snapshot [uids]}) and closes every netns it receives right
 * after noting its id.
 */
final class RecordingDaemon implements ZdsWorkloadHandler {
    private final List<String> events = new ArrayList<>();

    @Override
    public CompletionStage<Void> addWorkload(String uid, WorkloadInfo info, PodNetns netns) {
        try (netns) {
            record("add " + uid + " " + info.namespace() + "/" + info.name() + " " + netns.id());
        }
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public void keepWorkload(String uid) {
        record("keep " + uid);
    }

    @Override
    public CompletionStage<Void> deleteWorkload(String uid) {
        record("del " + uid);
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletionStage<Void> snapshotSent(Set<String> namedSinceConnect) {
        record("snapshot " + namedSinceConnect.stream().sorted().toList());
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public void disconnected(Throwable cause) {
        record("disconnected");
    }

    @Override
    public void protocolViolation(String message) {
        record("violation " + message);
    }

    private synchronized void record(String event) {
        events.add(event);
        notifyAll();
    }

    synchronized List<String> events() {
        return List.copyOf(events);
    }

    /** Forgets what was recorded so far. */
    synchronized void clear() {
        events.clear();
    }

    /** Waits up to 10 s for an event matching {@code p}; returns it. */
    synchronized String await(String what, Predicate<String> p) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (true) {
            for (String e : events) {
                if (p.test(e)) {
                    return e;
                }
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("no ZDS event " + what + " within 10 s; got " + events);
            }
            wait(Math.max(1, left / 1_000_000));
        }
    }
}
