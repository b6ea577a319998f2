package io.ztunnel.cni.linux;

import io.ztunnel.cni.ErrorText;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An owned file descriptor for a network namespace, and a way to run code inside it.
 *
 * <p>Opened from a path ({@code /var/run/netns/<name>}, {@code /proc/<pid>/ns/net}) or adopted from
 * a received fd (ZDS); either way the fd is checked to really be a network namespace ({@code
 * NS_GET_NSTYPE} ioctl, falling back to the nsfs/proc filesystem magic on old kernels) and its
 * {@link NetnsId identity} is read with {@code fstat}.
 *
 * <p><b>Running code in the namespace.</b> {@code setns(2)} switches only the calling thread, and a
 * socket belongs to the namespace of the thread that created it. Each {@code PodNetns} therefore
 * has its own platform thread (started on the first {@link #submit}), which calls {@code setns(fd,
 * CLONE_NEWNET)} once and then runs submitted tasks one at a time, in order. That thread never runs
 * anything else and never leaves the namespace; it is never a virtual thread (a virtual thread may
 * hop carriers, and the carrier would keep the namespace). Tasks should be short (create a socket,
 * bind it): a slow task delays every other socket of this pod. A thread that must not wait for that
 * hop (an event loop) can instead enter the namespace itself for one short task with {@link
 * #callOnThisThread}, which returns it to its own namespace afterwards.
 *
 * <p><b>Ownership.</b> This object owns its fd. {@link #close()} is idempotent: it closes the fd
 * once, fails tasks that have not started with {@link CancellationException}, and stops the thread
 * after the running task. Sockets already created inside stay in the namespace (the kernel keeps
 * the namespace alive while anything refers to it). {@link #withFd} lends the raw fd, for example
 * to send it over ZDS, while holding off {@code close()}; the borrower must not close it.
 *
 * <p>Thread-safe.
 */
public final class PodNetns implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PodNetns.class);
    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
    private static final AtomicLong THREAD_IDS = new AtomicLong();

    private final int fd;
    private final NetnsId id;
    private final String description;

    // Guarded by this.
    private final ArrayDeque<Task<?>> tasks = new ArrayDeque<>();
    private boolean closed;
    private @Nullable Thread thread;
    private @Nullable IOException enterFailure;

    private PodNetns(int fd, NetnsId id, String description) {
        this.fd = fd;
        this.id = id;
        this.description = description;
    }

    /**
     * Opens the network namespace at {@code path} ({@code O_RDONLY|O_CLOEXEC}).
     *
     * @throws ErrnoException if the path cannot be opened
     * @throws IOException if it is not a network namespace
     */
    public static PodNetns open(Path path) throws IOException {
        int fd = Libc.open(path.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
        return adopt(fd, path.toString());
    }

    /** Opens the namespace this process runs in ({@code /proc/self/ns/net}). */
    public static PodNetns openCurrent() throws IOException {
        return open(Path.of("/proc/self/ns/net"));
    }

    /**
     * Takes ownership of {@code fd}, which must refer to a network namespace. On any failure the fd
     * is closed before the exception is thrown, so the caller never has to.
     *
     * @param description how the fd came (a path, "ZDS add for uid X"), used in logs and errors
     */
    public static PodNetns adopt(int fd, String description) throws IOException {
        try {
            verifyNetworkNamespace(fd, description);
            long[] devIno = Libc.fstatDevIno(fd);
            return new PodNetns(fd, new NetnsId(devIno[1], devIno[0]), description);
        } catch (IOException | RuntimeException e) {
            Libc.closeQuietly(fd);
            throw e;
        }
    }

    private static void verifyNetworkNamespace(int fd, String description) throws IOException {
        int type = Libc.ioctlNoArg(fd, Libc.NS_GET_NSTYPE);
        if (type >= 0) {
            if (type != Libc.CLONE_NEWNET) {
                throw new IOException(description
                        + " is a namespace but not a network namespace (NS_GET_NSTYPE returned 0x"
                        + Integer.toHexString(type)
                        + ")");
            }
            return;
        }
        // Kernels before 4.11 lack NS_GET_NSTYPE; fall back to the filesystem type, as ztunnel does.
        long magic = Libc.fstatfsType(fd);
        if (magic != Libc.NSFS_MAGIC && magic != Libc.PROC_SUPER_MAGIC) {
            throw new IOException(description
                    + " is not a namespace file (NS_GET_NSTYPE failed with "
                    + ErrnoException.describe(-type)
                    + ", filesystem magic 0x"
                    + Long.toHexString(magic)
                    + ")");
        }
    }

    /** The (inode, dev) identity of this namespace. */
    public NetnsId id() {
        return id;
    }

    /** Where the fd came from, for logs. */
    public String description() {
        return description;
    }

    /**
     * The raw fd, lent to the caller. Do not close it. Another thread may close this netns right
     * after the call returns; where that matters (passing the fd on), use {@link #withFd}.
     *
     * @throws IllegalStateException if this netns is closed
     */
    public int fd() {
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("netns " + id + " (" + description + ") is closed");
            }
        }
        return fd;
    }

    /** Something to do with the raw fd while it is guaranteed open. */
    @FunctionalInterface
    public interface FdAction<T extends @Nullable Object> {
        T apply(int fd) throws IOException;
    }

    /**
     * Runs {@code action} with the raw fd while holding off {@link #close()}, so the fd number cannot
     * be closed and reused under it (e.g. while sending it over SCM_RIGHTS). Keep the action short:
     * close() on another thread waits for it.
     *
     * @throws IllegalStateException if this netns is closed
     */
    public synchronized <T extends @Nullable Object> T withFd(FdAction<T> action) throws IOException {
        if (closed) {
            throw new IllegalStateException("netns " + id + " (" + description + ") is closed");
        }
        return action.apply(fd);
    }

    public synchronized boolean isOpen() {
        return !closed;
    }

    /**
     * Runs {@code task} on this namespace's thread and waits up to 10 s for it. See {@link
     * #call(Callable, Duration)}.
     */
    public <T> T call(Callable<T> task) throws IOException {
        return call(task, DEFAULT_TIMEOUT);
    }

    /**
     * Runs {@code task} inside this namespace and waits for it.
     *
     * @return the task's result
     * @throws IOException the task's own IOException; an IOException wrapping any other checked
     *     exception; an {@link ErrnoException} if the thread could not enter the namespace; an
     *     IOException if the timeout passed (the task may still run) or this netns is closed; {@link
     *     InterruptedIOException} if the caller was interrupted
     * @throws RuntimeException the task's own unchecked exceptions, as thrown
     */
    public <T> T call(Callable<T> task, Duration timeout) throws IOException {
        CompletableFuture<T> future = submit(task);
        try {
            return future.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for a task in netns " + id);
        } catch (TimeoutException e) {
            throw new IOException("task in netns " + id + " (" + description + ") did not finish within " + timeout);
        } catch (CancellationException e) {
            throw new IOException("netns " + id + " (" + description + ") was closed", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new IOException("task in netns " + id + " failed: " + ErrorText.of(e), cause);
        }
    }

    /**
     * Runs {@code task} inside this namespace on the calling thread, without a hop to this namespace's own thread:
     * {@code setns} into it, the task, {@code setns} back to the thread's own namespace. For short tasks on a thread
     * that must not wait for another (an event loop creating a socket). The way back is an fd of the thread's own
     * namespace, opened for the call and closed after it.
     *
     * @throws IOException the task's own IOException (an IOException wrapping any other checked exception); an
     *     {@link ErrnoException} if the thread could not enter the namespace; an IOException if this netns is closed
     * @throws RuntimeException the task's own unchecked exceptions, as thrown
     * @throws IllegalStateException naming the namespace if the thread could not return to its own namespace (after
     *     logging it at ERROR); the thread then stays where it is, so the caller must not use it for sockets again
     */
    public <T> T callOnThisThread(Callable<T> task) throws IOException {
        int home = Libc.open("/proc/thread-self/ns/net", Libc.O_RDONLY | Libc.O_CLOEXEC);
        try {
            synchronized (this) { // the fd stays open (and its number ours) while setns reads it
                if (closed) {
                    throw new IOException("netns " + id + " (" + description + ") is closed");
                }
                Libc.setns(fd, Libc.CLONE_NEWNET, "fd " + fd + " " + description + ", CLONE_NEWNET");
            }
        } catch (IOException | RuntimeException e) {
            Libc.closeQuietly(home);
            throw e;
        }
        try {
            return task.call();
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("task in netns " + id + " failed: " + ErrorText.of(e), e);
        } finally {
            try {
                Libc.setns(home, Libc.CLONE_NEWNET, "the thread's own network namespace (fd " + home + ")");
            } catch (ErrnoException e) {
                log.atError()
                        .setMessage("thread could not return to its own network namespace")
                        .addKeyValue("thread", Thread.currentThread().getName())
                        .addKeyValue("netns", id)
                        .addKeyValue("error", ErrorText.of(e))
                        .log();
                throw new IllegalStateException(
                        "thread " + Thread.currentThread().getName() + " is stranded in netns " + id + ": "
                                + ErrorText.of(e),
                        e);
            } finally {
                Libc.closeQuietly(home);
            }
        }
    }

    /**
     * Queues {@code task} to run inside this namespace. The future completes with its result or
     * exception; it is cancelled if the netns is closed before the task starts, and fails with an
     * {@link ErrnoException} if the thread could not enter the namespace.
     */
    public <T> CompletableFuture<T> submit(Callable<T> task) {
        Task<T> t = new Task<>(task, new CompletableFuture<>());
        synchronized (this) {
            if (closed) {
                t.future.cancel(false);
                return t.future;
            }
            if (enterFailure != null) {
                t.future.completeExceptionally(enterFailure);
                return t.future;
            }
            tasks.addLast(t);
            if (thread == null) {
                thread = Thread.ofPlatform()
                        .daemon(true)
                        .name("netns-" + Long.toUnsignedString(id.inode()) + "-" + THREAD_IDS.incrementAndGet())
                        .start(this::serve);
            } else {
                notifyAll();
            }
        }
        return t.future;
    }

    /** A queued task and the future its caller waits on. */
    private record Task<T>(Callable<T> callable, CompletableFuture<T> future) {
        void run() {
            if (future.isDone()) {
                return; // cancelled by the caller
            }
            try {
                future.complete(callable.call());
            } catch (Throwable t) {
                future.completeExceptionally(t);
            }
        }
    }

    private void serve() {
        try {
            // Under the lock, so close() cannot release the fd (and the number be reused for another
            // file) between the closed check and the setns call.
            synchronized (this) {
                if (closed) {
                    return;
                }
                Libc.setns(fd, Libc.CLONE_NEWNET, "fd " + fd + " " + description + ", CLONE_NEWNET");
            }
        } catch (ErrnoException e) {
            // Never run a task here: this thread is still in the daemon's own namespace.
            ArrayDeque<Task<?>> failed;
            synchronized (this) {
                enterFailure = e;
                failed = new ArrayDeque<>(tasks);
                tasks.clear();
            }
            // Debug only: every task fails with this error and its caller reports it (a pod's add is refused
            // with it, the start-up capability check names the missing capability), so a warning here said
            // the same thing twice.
            log.atDebug()
                    .setMessage("could not enter network namespace")
                    .addKeyValue("netns", id)
                    .addKeyValue("source", description)
                    .addKeyValue("error", ErrorText.of(e))
                    .log();
            failed.forEach(t -> t.future.completeExceptionally(e));
            return;
        }
        log.atDebug()
                .setMessage("netns thread entered namespace")
                .addKeyValue("netns", id)
                .addKeyValue("source", description)
                .log();
        while (true) {
            Task<?> next;
            synchronized (this) {
                while (tasks.isEmpty() && !closed) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        // Only close() stops this thread; an interrupt from elsewhere is ignored.
                    }
                }
                if (closed) {
                    return;
                }
                next = tasks.removeFirst();
            }
            next.run();
        }
    }

    /** Closes the fd (once), cancels tasks that have not started and stops the thread. */
    @Override
    public void close() {
        ArrayDeque<Task<?>> cancelled;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            cancelled = new ArrayDeque<>(tasks);
            tasks.clear();
            notifyAll();
        }
        cancelled.forEach(t -> t.future.cancel(false));
        Libc.closeQuietly(fd);
    }

    @Override
    public String toString() {
        return "PodNetns{" + id + ", " + description + (isOpen() ? "" : ", closed") + "}";
    }
}
