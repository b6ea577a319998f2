package io.ztunnel.cni.zds;

import com.google.protobuf.InvalidProtocolBufferException;
import io.ztunnel.cni.ErrorText;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.linux.SeqpacketSocket;
import io.ztunnel.cni.linux.SeqpacketSocket.Message;
import io.ztunnel.cni.linux.SeqpacketSocket.TruncatedMessageException;
import io.ztunnel.cni.zds.proto.AddWorkload;
import io.ztunnel.cni.zds.proto.WorkloadRequest;
import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.ClosedChannelException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's end of ZDS: connects to the node agent's SEQPACKET socket ({@code INPOD_UDS},
 * default {@value #DEFAULT_SOCKET_PATH}), says {@code ZdsHello{V1}}, then reads one {@code
 * WorkloadRequest} per datagram, validates it, hands it to the {@link ZdsWorkloadHandler} and
 * answers each with {@code WorkloadResponse{ack}}: an empty error (ACK) or the failure text (NACK).
 *
 * <p>What happens on bad input:
 *
 * <ul>
 *   <li>Protocol violations (KeepWorkload after SnapshotSent, a second SnapshotSent, AddWorkload
 *       without workload_info): NACK, then {@link ZdsWorkloadHandler#protocolViolation} and the
 *       client stops for good (ztunnel exits on these).
 *   <li>An Add without exactly one fd, any fd on another message, an Add whose fd is not a network
 *       namespace, an Add without uid: NACK, received fds closed, the connection goes on.
 *   <li>An undecodable or truncated (&gt;1024 bytes) message, or one with no known payload: NACK,
 *       then reconnect.
 *   <li>Connection lost: {@link ZdsWorkloadHandler#disconnected}, then reconnect with a backoff of
 *       10 ms doubling to 15 s, reset once a hello has been sent.
 * </ul>
 *
 * <p><b>Threading.</b> All socket I/O and all handler callbacks run on one platform thread,
 * "zds-client", started by {@link #start()}. The ack for a message waits for the stage the handler
 * returned; the next message is read after that. {@link #close()} may be called from any thread.
 * <b>Ownership.</b> The client owns its socket. Every fd received is either adopted into a {@link
 * PodNetns} handed to the handler (which then owns it) or closed here.
 */
public final class ZdsClient implements AutoCloseable {
    /** ztunnel's default {@code INPOD_UDS}. */
    public static final String DEFAULT_SOCKET_PATH = "/var/run/ztunnel/ztunnel.sock";

    private static final Logger log = LoggerFactory.getLogger(ZdsClient.class);

    private final Path socketPath;
    private final ZdsWorkloadHandler handler;
    private final Duration initialBackoff;
    private final Duration maxBackoff;

    private final Object lock = new Object();
    private @Nullable Thread thread; // guarded by lock
    private @Nullable SeqpacketSocket current; // guarded by lock
    private boolean stopped; // guarded by lock
    private volatile boolean connected;

    /** A client of the agent at {@code socketPath}; call {@link #start()} to connect. */
    public ZdsClient(Path socketPath, ZdsWorkloadHandler handler) {
        this(socketPath, handler, Backoff.DEFAULT_INITIAL, Backoff.DEFAULT_MAX);
    }

    ZdsClient(Path socketPath, ZdsWorkloadHandler handler, Duration initialBackoff, Duration maxBackoff) {
        this.socketPath = Objects.requireNonNull(socketPath, "socketPath");
        this.handler = Objects.requireNonNull(handler, "handler");
        this.initialBackoff = initialBackoff;
        this.maxBackoff = maxBackoff;
        new Backoff(initialBackoff, maxBackoff); // validates
    }

    /** Starts the connect/read loop on its own thread. Idempotent. */
    public void start() {
        synchronized (lock) {
            if (thread != null || stopped) {
                return;
            }
            thread = Thread.ofPlatform().name("zds-client").daemon(true).start(this::run);
        }
    }

    /** True while a connection is up and the hello has been sent. */
    public boolean isConnected() {
        return connected;
    }

    /**
     * Stops the client: closes the connection (no {@code disconnected} callback follows), interrupts
     * a handler stage the thread is waiting for, and waits up to 5 s for the thread to end.
     */
    @Override
    public void close() {
        Thread t;
        SeqpacketSocket s;
        synchronized (lock) {
            if (stopped) {
                return;
            }
            stopped = true;
            t = thread;
            s = current;
        }
        if (s != null) {
            s.close();
        }
        if (t != null) {
            t.interrupt();
            if (t != Thread.currentThread()) {
                try {
                    t.join(Duration.ofSeconds(5));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    private boolean isStopped() {
        synchronized (lock) {
            return stopped;
        }
    }

    private void run() {
        Backoff backoff = new Backoff(initialBackoff, maxBackoff);
        int failedAttempts = 0;
        while (!isStopped()) {
            SeqpacketSocket socket;
            try {
                socket = SeqpacketSocket.connect(socketPath);
            } catch (IOException e) {
                failedAttempts++;
                if (failedAttempts == 1 || failedAttempts % 20 == 0) {
                    log.atWarn()
                            .setMessage("cannot connect to the node agent, retrying")
                            .addKeyValue("socket", socketPath)
                            .addKeyValue("attempts", failedAttempts)
                            .addKeyValue("error", ErrorText.of(e))
                            .log();
                }
                sleep(backoff.next());
                continue;
            }
            synchronized (lock) {
                if (stopped) {
                    socket.close();
                    return;
                }
                current = socket;
            }
            failedAttempts = 0;
            boolean helloSent = false;
            @Nullable Throwable cause = null;
            try {
                socket.send(ZdsCodec.hello());
                helloSent = true;
                connected = true;
                backoff.reset();
                log.atInfo()
                        .setMessage("connected to the node agent")
                        .addKeyValue("socket", socketPath)
                        .log();
                if (serve(socket)) {
                    return; // protocol violation: stop for good
                }
            } catch (IOException e) {
                cause = e;
            } finally {
                connected = false;
                socket.close();
                synchronized (lock) {
                    current = null;
                }
            }
            if (isStopped()) {
                return;
            }
            log.atWarn()
                    .setMessage("lost the node agent connection, reconnecting")
                    .addKeyValue("socket", socketPath)
                    .addKeyValue("error", cause != null ? ErrorText.of(cause) : "connection ended")
                    .log();
            if (helloSent) {
                try {
                    handler.disconnected(cause != null ? cause : new EOFException("node agent connection ended"));
                } catch (RuntimeException e) {
                    log.atError()
                            .setMessage("disconnected() callback failed")
                            .setCause(e)
                            .log();
                }
            }
            sleep(backoff.next());
        }
    }

    private void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            // close() interrupts; the loop condition sees stopped.
        }
    }

    /**
     * Serves one connection until it fails (throws) or the peer breaks the protocol (returns true).
     */
    private boolean serve(SeqpacketSocket socket) throws IOException {
        Session session = new Session();
        while (true) {
            Reply reply;
            try (Message message = socket.receive()) {
                reply = session.handle(message);
            } catch (TruncatedMessageException e) {
                socket.send(ZdsCodec.nack(ErrorText.of(e)));
                throw e;
            }
            socket.send(reply.response());
            if (reply.violation() != null) {
                log.atError()
                        .setMessage("node agent broke the ZDS protocol; stopping")
                        .addKeyValue("error", reply.violation())
                        .log();
                handler.protocolViolation(reply.violation());
                return true;
            }
            if (reply.reconnect()) {
                throw new IOException(reply.error());
            }
        }
    }

    /**
     * The answer to one request.
     *
     * @param response ACK or NACK bytes to send
     * @param error the NACK text, or null for an ACK
     * @param violation non-null for a protocol violation (stop after sending the NACK)
     * @param reconnect drop the connection after sending the NACK
     */
    private record Reply(
            byte[] response,
            @Nullable String error,
            @Nullable String violation,
            boolean reconnect) {
        static Reply ack() {
            return new Reply(ZdsCodec.ack(), null, null, false);
        }

        static Reply nack(String error) {
            return new Reply(ZdsCodec.nack(error), error, null, false);
        }

        static Reply nackAndReconnect(String error) {
            return new Reply(ZdsCodec.nack(error), error, null, true);
        }

        static Reply violation(String error) {
            return new Reply(ZdsCodec.nack(error), error, error, false);
        }
    }

    /** The per-connection protocol state. Confined to the ZDS thread. */
    private final class Session {
        private boolean snapshotDone;
        private final Set<String> named = new LinkedHashSet<>();

        Reply handle(Message message) throws IOException {
            WorkloadRequest request;
            try {
                request = WorkloadRequest.parseFrom(message.data());
            } catch (InvalidProtocolBufferException e) {
                return logged(
                        Reply.nackAndReconnect("cannot decode WorkloadRequest ("
                                + message.data().length
                                + " bytes): "
                                + ErrorText.of(e)),
                        "undecodable");
            }
            return switch (request.getPayloadCase()) {
                case ADD -> add(request.getAdd(), message);
                case KEEP -> keep(request.getKeep().getUid(), message);
                case DEL -> del(request.getDel().getUid(), message);
                case SNAPSHOT_SENT -> snapshotSent(message);
                case PAYLOAD_NOT_SET ->
                    logged(Reply.nackAndReconnect("WorkloadRequest has no payload this daemon understands"), "unknown");
            };
        }

        private Reply add(AddWorkload add, Message message) throws IOException {
            String uid = add.getUid();
            if (!add.hasWorkloadInfo()) {
                return Reply.violation("AddWorkload for uid " + uid + " has no workload_info");
            }
            if (uid.isEmpty()) {
                return logged(Reply.nack("AddWorkload without uid"), "add");
            }
            named.add(uid);
            if (message.fdCount() != 1) {
                return logged(
                        Reply.nack("AddWorkload for uid "
                                + uid
                                + " must carry exactly one netns fd, got "
                                + message.fdCount()),
                        "add");
            }
            PodNetns netns;
            try {
                netns = PodNetns.adopt(message.takeFd(0), "ZDS AddWorkload uid " + uid);
            } catch (IOException e) {
                return logged(Reply.nack("netns fd for uid " + uid + ": " + ErrorText.of(e)), "add");
            }
            WorkloadInfo info = ZdsCodec.fromProto(add.getWorkloadInfo());
            log.atInfo()
                    .setMessage("pod added")
                    .addKeyValue("uid", uid)
                    .addKeyValue("workload", info)
                    .addKeyValue("netns", netns.id())
                    .log();
            return await("add " + uid, () -> handler.addWorkload(uid, info, netns));
        }

        private Reply keep(String uid, Message message) {
            if (snapshotDone) {
                return Reply.violation("KeepWorkload for uid " + uid + " after SnapshotSent");
            }
            if (message.fdCount() != 0) {
                return logged(Reply.nack(fdsNotAllowed("KeepWorkload", message)), "keep");
            }
            named.add(uid);
            try {
                handler.keepWorkload(uid);
            } catch (RuntimeException e) {
                return logged(Reply.nack(ErrorText.of(e)), "keep");
            }
            log.atDebug().setMessage("pod kept").addKeyValue("uid", uid).log();
            return Reply.ack();
        }

        private Reply del(String uid, Message message) throws IOException {
            if (message.fdCount() != 0) {
                return logged(Reply.nack(fdsNotAllowed("DelWorkload", message)), "del");
            }
            named.remove(uid);
            log.atInfo().setMessage("pod deleted").addKeyValue("uid", uid).log();
            return await("del " + uid, () -> handler.deleteWorkload(uid));
        }

        private Reply snapshotSent(Message message) throws IOException {
            if (snapshotDone) {
                return Reply.violation("second SnapshotSent on one connection");
            }
            if (message.fdCount() != 0) {
                return logged(Reply.nack(fdsNotAllowed("SnapshotSent", message)), "snapshot");
            }
            snapshotDone = true;
            Set<String> snapshot = Set.copyOf(named);
            log.atInfo()
                    .setMessage("snapshot received")
                    .addKeyValue("workloads", snapshot.size())
                    .log();
            return await("snapshot", () -> handler.snapshotSent(snapshot));
        }

        private static String fdsNotAllowed(String what, Message message) {
            return what + " must not carry fds, got " + message.fdCount() + " (closed)";
        }
    }

    private static Reply logged(Reply reply, String what) {
        log.atWarn()
                .setMessage("NACK to node agent")
                .addKeyValue("request", what)
                .addKeyValue("error", reply.error())
                .log();
        return reply;
    }

    /** Runs a handler callback and waits for its stage; ACK on success, NACK with its message. */
    private static Reply await(String what, Supplier<CompletionStage<Void>> call) throws IOException {
        try {
            CompletionStage<Void> stage = call.get();
            if (stage == null) {
                return logged(Reply.nack("handler returned no result for " + what), what);
            }
            stage.toCompletableFuture().get();
            return Reply.ack();
        } catch (ExecutionException e) {
            return logged(Reply.nack(ErrorText.of(e)), what);
        } catch (InterruptedException e) {
            // Only close() interrupts this thread.
            Thread.currentThread().interrupt();
            ClosedChannelException closed = new ClosedChannelException();
            closed.initCause(new InterruptedIOException("ZDS client closed during " + what));
            throw closed;
        } catch (RuntimeException e) {
            return logged(Reply.nack(ErrorText.of(e)), what);
        }
    }
}
