package io.ztunnel.cni.zds;

import io.ztunnel.cni.linux.PodNetns;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * A {@link ZdsWorkloadHandler} that records every callback as a line of text, closes nothing until
 * {@link #closeAll()} (so tests can inspect the netns it got), and answers adds and deletes as
 * told.
 */
final class RecordingHandler implements ZdsWorkloadHandler, AutoCloseable {
    final BlockingQueue<String> events = new LinkedBlockingQueue<>();
    final List<PodNetns> netns = new CopyOnWriteArrayList<>();
    final CompletableFuture<String> violation = new CompletableFuture<>();
    final BlockingQueue<Throwable> disconnects = new LinkedBlockingQueue<>();
    volatile @Nullable Set<String> lastSnapshot;
    volatile Function<String, CompletionStage<Void>> onAdd = uid -> CompletableFuture.completedFuture(null);
    volatile Function<String, CompletionStage<Void>> onDelete = uid -> CompletableFuture.completedFuture(null);

    @Override
    public CompletionStage<Void> addWorkload(String uid, WorkloadInfo info, PodNetns ns) {
        netns.add(ns);
        events.add("add " + uid + " " + info + " " + ns.id());
        return onAdd.apply(uid);
    }

    @Override
    public void keepWorkload(String uid) {
        events.add("keep " + uid);
    }

    @Override
    public CompletionStage<Void> deleteWorkload(String uid) {
        events.add("del " + uid);
        return onDelete.apply(uid);
    }

    @Override
    public CompletionStage<Void> snapshotSent(Set<String> namedSinceConnect) {
        lastSnapshot = namedSinceConnect;
        events.add("snapshot " + namedSinceConnect.stream().sorted().toList());
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public void disconnected(Throwable cause) {
        disconnects.add(cause);
    }

    @Override
    public void protocolViolation(String message) {
        violation.complete(message);
    }

    /** The next event, waiting up to 5 s; null if none came. */
    String next() throws InterruptedException {
        return events.poll(5, TimeUnit.SECONDS);
    }

    void closeAll() {
        netns.forEach(PodNetns::close);
    }

    @Override
    public void close() {
        closeAll();
    }
}
