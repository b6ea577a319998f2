package io.ztunnel.core.util;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;
import org.jspecify.annotations.Nullable;

/**
 * A {@link Scheduler} for tests: tasks run only inside {@link #runPending()} / {@link #advance(Duration)}, on the
 * calling thread, and time moves only when advanced. Not thread-safe: drive it from one thread at a time.
 */
public final class ManualScheduler implements Scheduler {
    private record Task(Instant due, long seq, Runnable runnable, boolean[] cancelled) {}

    private final PriorityQueue<Task> tasks =
            new PriorityQueue<>(Comparator.comparing(Task::due).thenComparingLong(Task::seq));
    private Instant now;
    private long seq;
    private volatile @Nullable Thread running;

    public ManualScheduler(Instant start) {
        this.now = start;
    }

    @Override
    public synchronized void execute(Runnable task) {
        tasks.add(new Task(now, seq++, task, new boolean[1]));
    }

    @Override
    public synchronized Cancellable schedule(Runnable task, Duration delay) {
        boolean[] cancelled = new boolean[1];
        tasks.add(new Task(now.plus(delay), seq++, task, cancelled));
        return () -> cancelled[0] = true;
    }

    @Override
    public synchronized Instant now() {
        return now;
    }

    /**
     * Whoever drives the scheduler is its thread: tasks run only on the caller of {@link #advance}, so a caller counts
     * as "in the scheduler" unless another thread is running tasks right now. (JUnit runs each test and lifecycle
     * method on a thread of its own when a timeout applies, so the thread that created this scheduler is not the one
     * that closes what uses it; a component that hands work to "the scheduler thread" and waits for it would wait for
     * a task that nothing runs.)
     */
    @Override
    public boolean inScheduler() {
        Thread t = running;
        return t == null || t == Thread.currentThread();
    }

    /** Runs every task due now (including tasks they submit for now). */
    public void runPending() {
        advance(Duration.ZERO);
    }

    /** Moves time forward, running each task at its due time in order. */
    public void advance(Duration duration) {
        Instant target;
        synchronized (this) {
            target = now.plus(duration);
        }
        Thread previous = running;
        running = Thread.currentThread();
        try {
            runUntil(target);
        } finally {
            running = previous;
        }
    }

    private void runUntil(Instant target) {
        while (true) {
            Task next;
            synchronized (this) {
                next = tasks.peek();
                if (next == null || next.due().isAfter(target)) {
                    now = target;
                    return;
                }
                tasks.poll();
                if (next.due().isAfter(now)) {
                    now = next.due();
                }
            }
            if (!next.cancelled()[0]) {
                next.runnable().run();
            }
        }
    }

    /** Due times of the tasks still scheduled and not cancelled. */
    public synchronized List<Instant> scheduledTimes() {
        List<Instant> out = new ArrayList<>();
        for (Task t : tasks) {
            if (!t.cancelled()[0]) {
                out.add(t.due());
            }
        }
        out.sort(Comparator.naturalOrder());
        return out;
    }
}
