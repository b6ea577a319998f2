package io.ztunnel.cni.zds;

import com.google.protobuf.InvalidProtocolBufferException;
import io.ztunnel.cni.ErrorText;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.linux.SeqpacketSocket;
import io.ztunnel.cni.linux.SeqpacketSocket.Message;
import io.ztunnel.cni.zds.proto.Version;
import io.ztunnel.cni.zds.proto.WorkloadResponse;
import io.ztunnel.cni.zds.proto.ZdsHello;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent's end of ZDS: listens on the SEQPACKET socket the daemons connect to, and keeps
 * every connected daemon told which pods to proxy. Several daemons may be connected at once (two
 * overlap during a rolling upgrade).
 *
 * <p>Per connection: read {@code ZdsHello} (anything but V1 is refused and the connection closed),
 * send the current snapshot from the supplier ({@code AddWorkload} with the netns fd, or {@code
 * KeepWorkload} when the netns is not held), then {@code SnapshotSent}; afterwards the requests
 * queued by {@link #addWorkload} and {@link #deleteWorkload}. One message at a time, each waiting
 * for its ack (5 s deadline), because acks are matched by order only. A NACK during the snapshot is
 * logged and the snapshot goes on (the daemon keeps such a pod pending and retries). A connection
 * that reaches EOF, misses a deadline or answers garbage is dropped; while idle, each connection is
 * probed every second so a dead daemon is noticed without traffic.
 *
 * <p>Routing: {@link #addWorkload} goes to the newest connection only (the daemon that will stay),
 * {@link #deleteWorkload} to all of them. A connection becomes "newest" right after its hello,
 * before its snapshot is taken, so an add racing with the snapshot is queued behind it instead of
 * going to the old daemon only.
 *
 * <p><b>Threading.</b> One platform thread accepts (at most 5 connections per second), one platform
 * thread per connection does all of that connection's I/O. Public methods are thread-safe and never
 * block on I/O: they return futures. <b>Ownership.</b> The server owns the listening socket (its
 * file is unlinked on close) and the connections. It never owns a {@link PodNetns}: netns in
 * snapshot entries and in {@code addWorkload} stay the caller's. The fd is borrowed only while the
 * message is written (the kernel duplicates it); a netns closed before that makes the add fail (or,
 * in a snapshot, turns it into a KeepWorkload).
 */
public final class ZdsServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ZdsServer.class);

    /** Deadline for each message's ack, and for the hello. */
    static final Duration MESSAGE_DEADLINE = Duration.ofSeconds(5);

    /** One entry of the snapshot sent to each new daemon connection. */
    public sealed interface SnapshotEntry permits SnapshotEntry.Add, SnapshotEntry.Keep {
        String uid();

        /** A pod whose netns this agent holds: sent as AddWorkload with the fd. */
        record Add(String uid, WorkloadInfo info, PodNetns netns) implements SnapshotEntry {
            public Add {
                Objects.requireNonNull(uid, "uid");
                Objects.requireNonNull(info, "info");
                Objects.requireNonNull(netns, "netns");
            }
        }

        /** A pod still enrolled whose netns is not held any more: sent as KeepWorkload. */
        record Keep(String uid) implements SnapshotEntry {
            public Keep {
                Objects.requireNonNull(uid, "uid");
            }
        }
    }

    private final SeqpacketSocket listener;
    private final Path socketPath;
    private final Supplier<? extends Collection<SnapshotEntry>> snapshot;
    private final Duration acceptInterval;
    private final Duration idleProbeInterval;
    private final Thread acceptThread;
    private final AtomicInteger connectionIds = new AtomicInteger();

    // Guarded by this: connections past their hello, oldest first (the routing list), and every
    // accepted connection not yet dropped (for close()).
    private final ArrayDeque<Connection> connections = new ArrayDeque<>();
    private final List<Connection> live = new ArrayList<>();
    private boolean closed;

    private ZdsServer(
            SeqpacketSocket listener,
            Path socketPath,
            Supplier<? extends Collection<SnapshotEntry>> snapshot,
            Duration acceptInterval,
            Duration idleProbeInterval) {
        this.listener = listener;
        this.socketPath = socketPath;
        this.snapshot = snapshot;
        this.acceptInterval = acceptInterval;
        this.idleProbeInterval = idleProbeInterval;
        this.acceptThread = Thread.ofPlatform().name("zds-accept").daemon(true).unstarted(this::acceptLoop);
    }

    /**
     * Listens at {@code socketPath} (creating its directory, replacing a stale socket file) and
     * starts accepting daemons.
     *
     * @param snapshot called once per new connection, on that connection's thread, for the pods to
     *     send; must be thread-safe
     */
    public static ZdsServer start(Path socketPath, Supplier<? extends Collection<SnapshotEntry>> snapshot)
            throws IOException {
        return start(socketPath, snapshot, Duration.ofMillis(200), Duration.ofSeconds(1));
    }

    static ZdsServer start(
            Path socketPath,
            Supplier<? extends Collection<SnapshotEntry>> snapshot,
            Duration acceptInterval,
            Duration idleProbeInterval)
            throws IOException {
        Path parent = socketPath.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        SeqpacketSocket listener = SeqpacketSocket.listen(socketPath, 16);
        ZdsServer server = new ZdsServer(
                listener, socketPath, Objects.requireNonNull(snapshot, "snapshot"), acceptInterval, idleProbeInterval);
        server.acceptThread.start();
        log.atInfo()
                .setMessage("ZDS server listening")
                .addKeyValue("socket", socketPath)
                .log();
        return server;
    }

    /**
     * Sends {@code AddWorkload{uid, info}} with {@code netns}'s fd to the newest daemon connection.
     * Completes when it ACKs; fails with a {@link ZdsException}: "no ztunnel connection", a NACK
     * carrying the daemon's message, a deadline or a lost connection.
     */
    public CompletableFuture<Void> addWorkload(String uid, WorkloadInfo info, PodNetns netns) {
        Objects.requireNonNull(netns, "netns");
        byte[] bytes = ZdsCodec.add(uid, info);
        Connection newest;
        synchronized (this) {
            newest = connections.peekLast();
        }
        if (newest == null) {
            return CompletableFuture.failedFuture(ZdsException.noConnection("AddWorkload for uid " + uid));
        }
        return newest.enqueue(new Request("AddWorkload uid " + uid, bytes, netns));
    }

    /**
     * Sends {@code DelWorkload{uid}} to every daemon connection. Completes when all ACK (at once if
     * none is connected); fails with a {@link ZdsException} naming the first failure otherwise.
     */
    public CompletableFuture<Void> deleteWorkload(String uid) {
        byte[] bytes = ZdsCodec.del(uid);
        List<Connection> all;
        synchronized (this) {
            all = List.copyOf(connections);
        }
        List<CompletableFuture<Void>> acks = new ArrayList<>();
        for (Connection c : all) {
            acks.add(c.enqueue(new Request("DelWorkload uid " + uid, bytes, null)));
        }
        return CompletableFuture.allOf(acks.toArray(CompletableFuture[]::new));
    }

    /** How many daemons are connected (after their hello). */
    public synchronized int connectionCount() {
        return connections.size();
    }

    /** Stops accepting, closes every connection (their pending requests fail) and the socket. */
    @Override
    public void close() {
        List<Connection> all;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            all = List.copyOf(live);
        }
        listener.close();
        acceptThread.interrupt(); // ends a rate-limit or retry pause
        for (Connection c : all) {
            c.drop("ZDS server closed");
        }
        join(acceptThread);
        for (Connection c : all) {
            join(c.thread);
        }
    }

    private static void join(@Nullable Thread t) {
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(Duration.ofSeconds(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private synchronized boolean isClosed() {
        return closed;
    }

    private void acceptLoop() {
        while (!isClosed()) {
            SeqpacketSocket socket;
            try {
                socket = listener.accept();
            } catch (IOException e) {
                if (isClosed()) {
                    return;
                }
                // E.g. EMFILE: keep the server alive and try again shortly.
                log.atError()
                        .setMessage("ZDS accept failed; retrying in 1s")
                        .addKeyValue("socket", socketPath)
                        .setCause(e)
                        .log();
                if (!pause(Duration.ofSeconds(1))) {
                    return;
                }
                continue;
            }
            Connection c = new Connection(connectionIds.incrementAndGet(), socket);
            synchronized (this) {
                if (closed) {
                    socket.close();
                    return;
                }
                live.add(c);
                c.thread = Thread.ofPlatform()
                        .name("zds-conn-" + c.id)
                        .daemon(true)
                        .start(c::run);
            }
            // Rate limit, as istio-cni does: at most one new connection per interval.
            if (!pause(acceptInterval)) {
                return;
            }
        }
    }

    /** Sleeps; false if interrupted (only close() would). */
    private static boolean pause(Duration d) {
        try {
            Thread.sleep(d);
            return true;
        } catch (InterruptedException e) {
            return false;
        }
    }

    /** Adds {@code c} as the newest connection; false if the server is closing. */
    private synchronized boolean register(Connection c) {
        if (closed) {
            return false;
        }
        connections.addLast(c);
        return true;
    }

    private synchronized void unregister(Connection c) {
        connections.remove(c);
        live.remove(c);
    }

    /** One queued request: bytes to send, the netns whose fd rides along, and its future. */
    private record Request(
            String what, byte[] bytes, @Nullable PodNetns netns, CompletableFuture<Void> result) {
        Request(String what, byte[] bytes, @Nullable PodNetns netns) {
            this(what, bytes, netns, new CompletableFuture<>());
        }
    }

    /** One daemon connection; all of its I/O happens on {@link #thread}. */
    private final class Connection {
        final int id;
        final SeqpacketSocket socket;

        @Nullable
        Thread thread;

        // Guarded by this connection.
        private final ArrayDeque<Request> queue = new ArrayDeque<>();
        private @Nullable String dropReason;

        Connection(int id, SeqpacketSocket socket) {
            this.id = id;
            this.socket = socket;
        }

        CompletableFuture<Void> enqueue(Request request) {
            synchronized (this) {
                if (dropReason == null) {
                    queue.addLast(request);
                    notifyAll();
                    return request.result;
                }
            }
            request.result.completeExceptionally(ZdsException.failed(
                    "ztunnel connection " + id + " closed (" + dropReason + "), " + request.what, null));
            return request.result;
        }

        /** Closes the connection, fails queued requests; idempotent. */
        void drop(String reason) {
            List<Request> failed;
            synchronized (this) {
                if (dropReason != null) {
                    return;
                }
                dropReason = reason;
                failed = List.copyOf(queue);
                queue.clear();
                notifyAll();
            }
            unregister(this);
            socket.close();
            for (Request r : failed) {
                r.result.completeExceptionally(ZdsException.failed(
                        "ztunnel connection " + id + " closed (" + reason + ") before " + r.what, null));
            }
            log.atInfo()
                    .setMessage("ztunnel disconnected")
                    .addKeyValue("connection", id)
                    .addKeyValue("reason", reason)
                    .log();
        }

        void run() {
            try {
                handshake();
                if (!register(this)) {
                    drop("ZDS server closed");
                    return;
                }
                log.atInfo()
                        .setMessage("ztunnel connected")
                        .addKeyValue("connection", id)
                        .log();
                sendSnapshot();
                serveQueue();
            } catch (IOException | RuntimeException e) {
                drop(ErrorText.of(e));
            }
        }

        private void handshake() throws IOException {
            Optional<Message> received = socket.receive(MESSAGE_DEADLINE);
            if (received.isEmpty()) {
                throw new IOException("no ZdsHello within " + MESSAGE_DEADLINE);
            }
            try (Message m = received.get()) {
                if (m.fdCount() != 0) {
                    throw new IOException("ZdsHello carried fds");
                }
                ZdsHello hello;
                try {
                    hello = ZdsHello.parseFrom(m.data());
                } catch (InvalidProtocolBufferException e) {
                    throw new IOException("undecodable ZdsHello: " + ErrorText.of(e), e);
                }
                if (hello.getVersion() != Version.V1) {
                    throw new IOException("unsupported ZDS version " + hello.getVersionValue() + ", want V1");
                }
            }
        }

        private void sendSnapshot() throws IOException {
            Collection<SnapshotEntry> entries = snapshot.get();
            int sent = 0;
            for (SnapshotEntry entry : entries) {
                Request request;
                switch (entry) {
                    case SnapshotEntry.Add add -> {
                        if (!add.netns().isOpen()) {
                            log.atWarn()
                                    .setMessage("snapshot entry's netns is closed; sending KeepWorkload instead")
                                    .addKeyValue("uid", add.uid())
                                    .log();
                            request = new Request("KeepWorkload uid " + add.uid(), ZdsCodec.keep(add.uid()), null);
                        } else {
                            request = new Request(
                                    "AddWorkload uid " + add.uid(), ZdsCodec.add(add.uid(), add.info()), add.netns());
                        }
                    }
                    case SnapshotEntry.Keep keep ->
                        request = new Request("KeepWorkload uid " + keep.uid(), ZdsCodec.keep(keep.uid()), null);
                }
                exchange(request);
                if (request.result.isCompletedExceptionally()) {
                    log.atWarn()
                            .setMessage("ztunnel NACKed a snapshot entry")
                            .addKeyValue("connection", id)
                            .addKeyValue("request", request.what)
                            .addKeyValue("error", ErrorText.of(request.result.exceptionNow()))
                            .log();
                }
                sent++;
            }
            Request done = new Request("SnapshotSent", ZdsCodec.snapshotSent(), null);
            exchange(done);
            log.atInfo()
                    .setMessage("snapshot sent")
                    .addKeyValue("connection", id)
                    .addKeyValue("workloads", sent)
                    .addKeyValue("acked", !done.result.isCompletedExceptionally())
                    .log();
        }

        private void serveQueue() throws IOException {
            while (true) {
                Request next;
                synchronized (this) {
                    if (dropReason != null) {
                        return;
                    }
                    if (queue.isEmpty()) {
                        try {
                            wait(idleProbeInterval.toMillis());
                        } catch (InterruptedException e) {
                            throw new IOException("interrupted");
                        }
                    }
                    if (dropReason != null) {
                        return;
                    }
                    next = queue.pollFirst();
                }
                if (next == null) {
                    probe();
                } else {
                    exchange(next);
                }
            }
        }

        /** While idle: nothing may arrive; EOF means the daemon is gone. */
        private void probe() throws IOException {
            Optional<Message> unexpected = socket.receive(Duration.ZERO);
            if (unexpected.isPresent()) {
                unexpected.get().close();
                throw new IOException("unexpected message from ztunnel while idle");
            }
        }

        /**
         * Sends one request and waits for its ack. A NACK completes the request's future exceptionally
         * and returns; transport failures fail it and throw (the connection drops).
         */
        private void exchange(Request request) throws IOException {
            try {
                if (request.bytes.length > SeqpacketSocket.MAX_MESSAGE) {
                    request.result.completeExceptionally(ZdsException.failed(
                            request.what
                                    + " encodes to "
                                    + request.bytes.length
                                    + " bytes; ZDS messages are limited to "
                                    + SeqpacketSocket.MAX_MESSAGE,
                            null));
                    return;
                }
                if (request.netns == null) {
                    socket.send(request.bytes);
                } else {
                    try {
                        request.netns.withFd(fd -> {
                            socket.send(request.bytes, OptionalInt.of(fd));
                            return null;
                        });
                    } catch (IllegalStateException e) { // the pod's netns was closed meanwhile
                        request.result.completeExceptionally(
                                ZdsException.failed(request.what + ": " + ErrorText.of(e), e));
                        return;
                    }
                }
                Optional<Message> received = socket.receive(MESSAGE_DEADLINE);
                if (received.isEmpty()) {
                    throw new IOException("no ack for " + request.what + " within " + MESSAGE_DEADLINE);
                }
                String error;
                try (Message m = received.get()) {
                    if (m.fdCount() != 0) {
                        throw new IOException("ack for " + request.what + " carried fds");
                    }
                    WorkloadResponse response;
                    try {
                        response = WorkloadResponse.parseFrom(m.data());
                    } catch (InvalidProtocolBufferException e) {
                        throw new IOException("undecodable WorkloadResponse: " + ErrorText.of(e), e);
                    }
                    if (!response.hasAck()) {
                        throw new IOException("WorkloadResponse without ack for " + request.what);
                    }
                    error = response.getAck().getError();
                }
                if (error.isEmpty()) {
                    request.result.complete(null);
                } else {
                    request.result.completeExceptionally(ZdsException.nack(request.what, error));
                }
            } catch (IOException | RuntimeException e) {
                request.result.completeExceptionally(ZdsException.failed(
                        "ztunnel connection " + id + " failed during " + request.what + ": " + ErrorText.of(e), e));
                throw e;
            }
        }
    }
}
