package io.ztunnel.core.util;

import io.netty.util.concurrent.EventExecutor;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A single-threaded task runner with a clock: what control-plane components (certificate manager, config watchers)
 * run on. Production uses one thread of the control event loop group; tests use a manual implementation whose time
 * only moves when told to.
 *
 * <p>Implementations run every task on one thread, in submission order for {@link #execute}.
 */
public interface Scheduler {

    /** Runs {@code task} soon, on the scheduler's thread. */
    void execute(Runnable task);

    /** Runs {@code task} after {@code delay}; the returned handle cancels it. */
    Cancellable schedule(Runnable task, Duration delay);

    Instant now();

    /** Whether the calling thread is the scheduler's thread. */
    boolean inScheduler();

    /** A handle on a scheduled task. */
    @FunctionalInterface
    interface Cancellable {
        void cancel();
    }

    /** Adapts a single-threaded executor such as a Netty {@code EventLoop}. */
    static Scheduler of(ScheduledExecutorService executor, Clock clock) {
        return new Scheduler() {
            @Override
            public void execute(Runnable task) {
                executor.execute(task);
            }

            @Override
            public Cancellable schedule(Runnable task, Duration delay) {
                ScheduledFuture<?> future = executor.schedule(task, Math.max(0, delay.toNanos()), TimeUnit.NANOSECONDS);
                return () -> future.cancel(false);
            }

            @Override
            public Instant now() {
                return clock.instant();
            }

            @Override
            public boolean inScheduler() {
                return executor instanceof EventExecutor e && e.inEventLoop();
            }
        };
    }
}
