package io.ztunnel.core.util;

import java.time.Duration;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's graceful drain, shared by everything that takes part in it: components register what to do when it
 * starts ({@link #onStart}: stop accepting, send GOAWAY, stop retrying) and hold a {@link #track} lease for each piece
 * of work that should be let finish (a proxied connection); the owner {@link #start}s it and waits until nothing is
 * in flight ({@link #awaitIdle}) or its deadline passes, instead of polling.
 *
 * <p>Thread-safe. Start actions run once each, on the thread that calls {@link #start} (or, for an action registered
 * after the start, on the registering thread, at once); an action that throws is logged and does not stop the others.
 */
public final class Drain {
    private static final Logger log = LoggerFactory.getLogger(Drain.class);

    private final Queue<Action> actions = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean started = new AtomicBoolean();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final CompletableFuture<Void> idle = new CompletableFuture<>();

    /** One registered start action; whoever removes it from the queue runs it, so it runs at most once. */
    private record Action(Runnable task, String owner) {}

    /**
     * Runs {@code action} when the drain starts, or now if it has. The returned subscription withdraws it (its owner
     * went away before the drain).
     *
     * @param owner what registered it, for the log should it fail
     */
    public Subscription onStart(String owner, Runnable action) {
        Action a = new Action(action, owner);
        actions.add(a);
        if (started.get() && actions.remove(a)) {
            run(a);
        }
        return () -> actions.remove(a);
    }

    /** Starts the drain: runs every registered action. Later calls do nothing. */
    public void start() {
        if (!started.compareAndSet(false, true)) {
            return;
        }
        Action a;
        while ((a = actions.poll()) != null) {
            run(a);
        }
        completeIfIdle();
    }

    public boolean isDraining() {
        return started.get();
    }

    /** Counts one piece of work in flight until the returned lease is closed. */
    public Subscription track() {
        inFlight.incrementAndGet();
        AtomicBoolean released = new AtomicBoolean();
        return () -> {
            if (released.compareAndSet(false, true) && inFlight.decrementAndGet() == 0) {
                completeIfIdle();
            }
        };
    }

    /** Work in flight now. */
    public int inFlight() {
        return inFlight.get();
    }

    /** Completes once the drain has started and no work is in flight. */
    public CompletableFuture<Void> whenIdle() {
        return idle.copy();
    }

    /** Waits until the drain is idle; returns whether it became idle within {@code timeout}. */
    public boolean awaitIdle(Duration timeout) {
        try {
            idle.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
            return true;
        } catch (TimeoutException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (ExecutionException e) {
            throw new IllegalStateException("the drain's idle signal never fails", e);
        }
    }

    private void completeIfIdle() {
        if (started.get() && inFlight.get() == 0) {
            idle.complete(null);
        }
    }

    private static void run(Action a) {
        try {
            a.task().run();
        } catch (RuntimeException e) {
            log.atError().addKeyValue("owner", a.owner()).setCause(e).log("drain action failed");
        }
    }
}
