package io.ztunnel.cni.linux;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import org.jspecify.annotations.Nullable;

/**
 * An {@code AF_UNIX SOCK_SEQPACKET} socket with {@code SCM_RIGHTS} fd passing: the transport of
 * ZDS, which neither the JDK (stream only, no fds) nor Netty (no SEQPACKET) provides.
 *
 * <p>Each {@link #send} is one message, delivered whole or not at all, optionally with one fd.
 * {@link #receive} reads one message into a {@value #MAX_MESSAGE}-byte buffer (the limit both
 * istio-cni and ztunnel use) and fails with {@link TruncatedMessageException} if it or its control
 * data did not fit. A zero-length read means the peer closed its end and is reported as {@link
 * EOFException}, so never send an empty message.
 *
 * <p><b>Threading.</b> I/O is blocking and meant for one dedicated platform thread per socket (the
 * message rate is a few per pod start). One reader and one writer may work concurrently. {@link
 * #close()} may be called from any thread: it wakes a blocked {@code receive}/{@code accept} (which
 * then throws {@link AsynchronousCloseException}) and releases the fd only once no call is using
 * it, so the fd number can never be reused under a running call.
 *
 * <p><b>Ownership.</b> The socket owns its fd. Fds received with a message belong to the {@link
 * Message}: the caller takes the ones it wants with {@link Message#takeFd}, and {@link
 * Message#close()} closes the rest, so use it in try-with-resources. On every error path of {@code
 * receive} the received fds are closed before the exception is thrown. {@link #send} does not take
 * the fd it sends (the kernel duplicates it). A listener unlinks its socket file on close, if the
 * file is still the one it bound.
 */
public final class SeqpacketSocket implements AutoCloseable {
    /** Receive buffer size; longer messages are truncated and rejected. */
    public static final int MAX_MESSAGE = 1024;

    /** Room for this many fds in one message; more is reported as control-data truncation. */
    private static final int MAX_FDS = 8;

    private static final int CMSG_HDR = 16;
    private static final int CONTROL_SIZE = CMSG_HDR + 4 * MAX_FDS; // CMSG_SPACE(4 * 8)
    private static final int SUN_PATH_MAX = 108;

    private final int fd;
    private final String description;
    private final @Nullable Path boundPath; // listeners only
    private final long @Nullable [] boundDevIno; // the socket file we created, for a safe unlink on close

    private final Object lock = new Object();
    private int inUse; // guarded by lock
    private boolean closed; // guarded by lock
    private boolean fdReleased; // guarded by lock

    private SeqpacketSocket(int fd, String description, @Nullable Path boundPath, long @Nullable [] boundDevIno) {
        this.fd = fd;
        this.description = description;
        this.boundPath = boundPath;
        this.boundDevIno = boundDevIno;
    }

    /** Connects to the listener at {@code path}. */
    public static SeqpacketSocket connect(Path path) throws IOException {
        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            Libc.connect(fd, sockaddrUn(arena, path), path.toString());
            return new SeqpacketSocket(fd, path.toString(), null, null);
        } catch (IOException | RuntimeException e) {
            Libc.closeQuietly(fd);
            throw e;
        }
    }

    /**
     * Listens at {@code path}, first removing whatever file is there (a stale socket from a previous
     * run would make bind fail with EADDRINUSE).
     */
    public static SeqpacketSocket listen(Path path, int backlog) throws IOException {
        int fd = Libc.socket(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment addr = sockaddrUn(arena, path);
            Libc.unlink(path.toString());
            Libc.bind(fd, addr, path.toString());
            long[] devIno = Libc.statDevIno(path.toString());
            Libc.listen(fd, backlog, path.toString());
            return new SeqpacketSocket(fd, path.toString(), path, devIno);
        } catch (IOException | RuntimeException e) {
            Libc.closeQuietly(fd);
            throw e;
        }
    }

    /** A connected pair ({@code socketpair}), for in-process use and tests. */
    public static SeqpacketSocket[] pair() throws IOException {
        int[] fds = Libc.socketpair(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC);
        return new SeqpacketSocket[] {
            new SeqpacketSocket(fds[0], "socketpair[0]", null, null),
            new SeqpacketSocket(fds[1], "socketpair[1]", null, null)
        };
    }

    private static MemorySegment sockaddrUn(Arena arena, Path path) throws IOException {
        byte[] bytes = path.toString().getBytes(StandardCharsets.UTF_8);
        if (bytes.length >= SUN_PATH_MAX) {
            throw new IOException("unix socket path " + path + " is " + bytes.length + " bytes; the limit is 107");
        }
        MemorySegment sa = arena.allocate(2 + SUN_PATH_MAX, 2);
        sa.set(ValueLayout.JAVA_SHORT, 0, (short) Libc.AF_UNIX);
        MemorySegment.copy(bytes, 0, sa, ValueLayout.JAVA_BYTE, 2, bytes.length);
        return sa;
    }

    /** Blocks until a peer connects; {@link #close()} from another thread interrupts it. */
    public SeqpacketSocket accept() throws IOException {
        begin();
        try {
            int peer = Libc.accept4(fd, Libc.SOCK_CLOEXEC, description);
            return new SeqpacketSocket(peer, description + " (accepted)", null, null);
        } catch (ErrnoException e) {
            throw closedOr(e);
        } finally {
            end();
        }
    }

    /** Sends one message without fds. */
    public void send(byte[] message) throws IOException {
        send(message, OptionalInt.empty());
    }

    /**
     * Sends {@code message} as one datagram, with {@code passFd} attached as {@code SCM_RIGHTS} if
     * present. The caller keeps ownership of {@code passFd}.
     *
     * @throws IllegalArgumentException if {@code message} is empty (the peer would read EOF)
     */
    public void send(byte[] message, OptionalInt passFd) throws IOException {
        if (message.length == 0) {
            throw new IllegalArgumentException("a SEQPACKET message must not be empty (reads as EOF)");
        }
        begin();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(message.length);
            MemorySegment.copy(message, 0, data, ValueLayout.JAVA_BYTE, 0, message.length);
            MemorySegment iov = arena.allocate(16, 8);
            iov.set(ValueLayout.ADDRESS, 0, data);
            iov.set(ValueLayout.JAVA_LONG, 8, message.length);
            MemorySegment msg = arena.allocate(56, 8);
            msg.set(ValueLayout.ADDRESS, 16, iov); // msg_iov
            msg.set(ValueLayout.JAVA_LONG, 24, 1L); // msg_iovlen
            if (passFd.isPresent()) {
                MemorySegment control = arena.allocate(CMSG_HDR + 8, 8); // CMSG_SPACE(4)
                control.set(ValueLayout.JAVA_LONG, 0, CMSG_HDR + 4); // cmsg_len = CMSG_LEN(4)
                control.set(ValueLayout.JAVA_INT, 8, Libc.SOL_SOCKET);
                control.set(ValueLayout.JAVA_INT, 12, Libc.SCM_RIGHTS);
                control.set(ValueLayout.JAVA_INT, 16, passFd.getAsInt());
                msg.set(ValueLayout.ADDRESS, 32, control); // msg_control
                msg.set(ValueLayout.JAVA_LONG, 40, control.byteSize()); // msg_controllen
            }
            long sent = Libc.sendmsg(fd, msg, Libc.MSG_NOSIGNAL, description);
            if (sent != message.length) {
                throw new IOException("sendmsg(" + description + ") sent " + sent + " of " + message.length + " bytes");
            }
        } catch (ErrnoException e) {
            throw closedOr(e);
        } finally {
            end();
        }
    }

    /**
     * Blocks until a message arrives.
     *
     * @throws EOFException the peer closed the connection
     * @throws TruncatedMessageException the message or its fds did not fit (the fds that did arrive
     *     are closed)
     * @throws AsynchronousCloseException this socket was closed while waiting
     */
    public Message receive() throws IOException {
        begin();
        try {
            // Null only for EAGAIN under MSG_DONTWAIT, which this call does not pass.
            return Objects.requireNonNull(receiveNow(0), "blocking recvmsg returned no message");
        } finally {
            end();
        }
    }

    /**
     * Waits up to {@code timeout} for a message. Empty on timeout; otherwise as {@link #receive()}.
     */
    public Optional<Message> receive(Duration timeout) throws IOException {
        begin();
        try {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (true) {
                long remainingMillis = Math.max(0, (deadline - System.nanoTime() + 999_999) / 1_000_000);
                short revents =
                        Libc.poll(fd, Libc.POLLIN, (int) Math.min(remainingMillis, Integer.MAX_VALUE), description);
                if (revents != 0) {
                    Message m = receiveNow(Libc.MSG_DONTWAIT);
                    if (m != null) {
                        return Optional.of(m);
                    }
                }
                if (System.nanoTime() - deadline >= 0) {
                    return Optional.empty();
                }
            }
        } catch (ErrnoException e) {
            throw closedOr(e);
        } finally {
            end();
        }
    }

    /** One recvmsg. Returns null only for EAGAIN with MSG_DONTWAIT. */
    private @Nullable Message receiveNow(int extraFlags) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(MAX_MESSAGE);
            MemorySegment iov = arena.allocate(16, 8);
            iov.set(ValueLayout.ADDRESS, 0, data);
            iov.set(ValueLayout.JAVA_LONG, 8, MAX_MESSAGE);
            MemorySegment control = arena.allocate(CONTROL_SIZE, 8);
            MemorySegment msg = arena.allocate(56, 8);
            msg.set(ValueLayout.ADDRESS, 16, iov);
            msg.set(ValueLayout.JAVA_LONG, 24, 1L);
            msg.set(ValueLayout.ADDRESS, 32, control);
            msg.set(ValueLayout.JAVA_LONG, 40, CONTROL_SIZE);
            long n;
            try {
                n = Libc.recvmsg(fd, msg, Libc.MSG_CMSG_CLOEXEC | extraFlags, description);
            } catch (ErrnoException e) {
                if (e.errno() == Libc.EAGAIN && extraFlags != 0) {
                    return null;
                }
                throw closedOr(e);
            }
            int flags = msg.get(ValueLayout.JAVA_INT, 48);
            int[] fds = parseRights(control, msg.get(ValueLayout.JAVA_LONG, 40));
            Message message = new Message(data.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), fds);
            if ((flags & (Libc.MSG_TRUNC | Libc.MSG_CTRUNC)) != 0) {
                message.close();
                throw new TruncatedMessageException(
                        (flags & Libc.MSG_TRUNC) != 0
                                ? "message on " + description + " is longer than " + MAX_MESSAGE + " bytes"
                                : "message on " + description + " carried more than " + MAX_FDS + " fds");
            }
            if (n == 0) {
                message.close();
                if (isClosed()) {
                    throw new AsynchronousCloseException();
                }
                throw new EOFException("peer closed " + description);
            }
            return message;
        }
    }

    /** Collects the fds of every SCM_RIGHTS header in the control buffer. */
    private static int[] parseRights(MemorySegment control, long controlLen) {
        int[] fds = new int[0];
        long off = 0;
        while (off + CMSG_HDR <= controlLen) {
            long len = control.get(ValueLayout.JAVA_LONG, off);
            if (len < CMSG_HDR || off + len > controlLen) {
                break;
            }
            int level = control.get(ValueLayout.JAVA_INT, off + 8);
            int type = control.get(ValueLayout.JAVA_INT, off + 12);
            if (level == Libc.SOL_SOCKET && type == Libc.SCM_RIGHTS) {
                int count = (int) ((len - CMSG_HDR) / 4);
                int base = fds.length;
                fds = Arrays.copyOf(fds, base + count);
                for (int i = 0; i < count; i++) {
                    fds[base + i] = control.get(ValueLayout.JAVA_INT, off + CMSG_HDR + 4L * i);
                }
            }
            off += (len + 7) & ~7L; // CMSG_ALIGN
        }
        return fds;
    }

    /** The raw fd, lent for diagnostics and tests; do not close it. */
    public int fd() {
        return fd;
    }

    public boolean isOpen() {
        return !isClosed();
    }

    private boolean isClosed() {
        synchronized (lock) {
            return closed;
        }
    }

    private void begin() throws ClosedChannelException {
        synchronized (lock) {
            if (closed) {
                throw new ClosedChannelException();
            }
            inUse++;
        }
    }

    private void end() {
        boolean release;
        synchronized (lock) {
            inUse--;
            release = closed && inUse == 0 && !fdReleased;
            if (release) {
                fdReleased = true;
            }
        }
        if (release) {
            Libc.closeQuietly(fd);
        }
    }

    private IOException closedOr(IOException e) {
        if (isClosed()) {
            AsynchronousCloseException closedException = new AsynchronousCloseException();
            closedException.addSuppressed(e);
            return closedException;
        }
        return e;
    }

    /**
     * Closes the socket (idempotent). Blocked calls on other threads are woken by a {@code shutdown}
     * and the fd is released when the last of them returns.
     */
    @Override
    public void close() {
        boolean release;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            release = inUse == 0;
            if (release) {
                fdReleased = true;
            }
        }
        if (release) {
            Libc.closeQuietly(fd);
        } else {
            Libc.shutdownQuietly(fd, Libc.SHUT_RDWR);
        }
        if (boundPath != null) {
            try {
                if (Arrays.equals(boundDevIno, Libc.statDevIno(boundPath.toString()))) {
                    Libc.unlink(boundPath.toString());
                }
            } catch (ErrnoException e) {
                // The file is gone or not ours any more; nothing to clean up.
            }
        }
    }

    @Override
    public String toString() {
        return "SeqpacketSocket{" + description + ", fd " + fd + (isClosed() ? ", closed" : "") + "}";
    }

    /** A message is longer than {@value #MAX_MESSAGE} bytes or carried too many fds. */
    public static final class TruncatedMessageException extends IOException {
        private static final long serialVersionUID = 1L;

        TruncatedMessageException(String message) {
            super(message);
        }
    }

    /**
     * One received message: its bytes and the fds that came with it. Owns the fds until they are
     * taken; {@link #close()} closes the rest. Not thread-safe; used by the receiving thread.
     */
    public static final class Message implements AutoCloseable {
        private final byte[] data;
        private final int[] fds; // -1 once taken or closed

        Message(byte[] data, int[] fds) {
            this.data = data;
            this.fds = fds;
        }

        /** The message bytes (a copy owned by this object; do not modify). */
        public byte[] data() {
            return data;
        }

        /** How many fds came with the message. */
        public int fdCount() {
            return fds.length;
        }

        /**
         * Transfers ownership of the {@code index}-th fd to the caller, who must close it.
         *
         * @throws IllegalStateException if it was already taken or closed
         */
        public int takeFd(int index) {
            int value = fds[index];
            if (value < 0) {
                throw new IllegalStateException("fd #" + index + " was already taken or closed");
            }
            fds[index] = -1;
            return value;
        }

        /** Closes every fd that was not taken. */
        @Override
        public void close() {
            for (int i = 0; i < fds.length; i++) {
                if (fds[i] >= 0) {
                    Libc.closeQuietly(fds[i]);
                    fds[i] = -1;
                }
            }
        }
    }
}
