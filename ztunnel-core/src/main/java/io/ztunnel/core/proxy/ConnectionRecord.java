package io.ztunnel.core.proxy;

import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.net.ConnectionObserver;
import io.ztunnel.core.rbac.Authorizer;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Everything known about one proxied connection, from the routing decision to close: the parties, the bytes, the
 * authorization decision that admitted it, and how it ended. Its life: {@link #opened()} once the connection's context
 * is known (metrics count it opened); then either {@link #fail} (refused or failed before relaying: access log at
 * ERROR, metrics closed with the failure flag) or {@link #established} (relaying, listed in the
 * {@link ConnectionTracker}) followed by {@link #closed}. Metrics hook in through {@link Listener}.
 *
 * <p>Threading: relay callbacks arrive on the connection's event loop; readers (admin API, policy re-evaluation) may
 * read the volatile and atomic fields from any thread. {@link #closed}/{@link #fail} take effect once.
 */
public final class ConnectionRecord implements ConnectionObserver {

    /** Extra observers of the connection's life (metrics). Called on the connection's event loop. */
    public interface Listener {
        default void opened(ConnectionRecord record) {}

        default void bytes(ConnectionRecord record, long received, long sent) {}

        default void closed(ConnectionRecord record, FailureFlag flag) {}
    }

    private static final AtomicLong IDS = new AtomicLong();

    private final long id = IDS.incrementAndGet();
    private final String owner;
    private final Direction direction;
    private final InetSocketAddress source;
    private final InetSocketAddress destination;
    private final String hboneTarget;
    private final SpiffeId sourceIdentity;
    private final Workload sourceWorkload;
    private final Workload destinationWorkload;
    private final Service destinationService;
    private final SpiffeId destinationIdentity;
    private final Authorizer.Connection authorizationInput;
    private final String decision;
    private final ConnectionTracker tracker;
    private final Listener listener;
    private final Instant start = Instant.now();
    private final long startNanos = System.nanoTime();
    private final AtomicLong received = new AtomicLong();
    private final AtomicLong sent = new AtomicLong();
    private volatile Runnable abort;
    private volatile String closeReason;
    private volatile FailureFlag closeFlag;
    private volatile io.ztunnel.core.hbone.Baggage sourceBaggage;
    private volatile Object attachment;
    private final java.util.concurrent.atomic.AtomicBoolean ended = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * @param owner the proxy (local workload) the connection belongs to, e.g. {@code ns/name/sa}
     * @param hboneTarget the HBONE {@code :authority} for tunnelled connections, else null
     * @param authorizationInput for inbound connections, what policy re-evaluation needs; null for outbound
     * @param decision why the connection was admitted (e.g. {@code allowed by: ns/name}), for logs and the admin API
     */
    public ConnectionRecord(
            String owner,
            Direction direction,
            InetSocketAddress source,
            InetSocketAddress destination,
            String hboneTarget,
            SpiffeId sourceIdentity,
            Workload sourceWorkload,
            Workload destinationWorkload,
            Service destinationService,
            SpiffeId destinationIdentity,
            Authorizer.Connection authorizationInput,
            String decision,
            ConnectionTracker tracker,
            Listener listener) {
        this.owner = owner;
        this.direction = direction;
        this.source = source;
        this.destination = destination;
        this.hboneTarget = hboneTarget;
        this.sourceIdentity = sourceIdentity;
        this.sourceWorkload = sourceWorkload;
        this.destinationWorkload = destinationWorkload;
        this.destinationService = destinationService;
        this.destinationIdentity = destinationIdentity;
        this.authorizationInput = authorizationInput;
        this.decision = decision;
        this.tracker = tracker;
        this.listener = listener == null ? new Listener() {} : listener;
    }

    @Override
    public void established(Runnable abort) {
        this.abort = abort;
        tracker.add(this);
    }

    @Override
    public void bytes(long receivedBytes, long sentBytes) {
        if (receivedBytes != 0) {
            received.addAndGet(receivedBytes);
        }
        if (sentBytes != 0) {
            sent.addAndGet(sentBytes);
        }
        listener.bytes(this, receivedBytes, sentBytes);
    }

    /** The connection's context is complete: count it opened. Call once, before relaying or failing. */
    public void opened() {
        listener.opened(this);
    }

    @Override
    public void closed(Throwable error) {
        FailureFlag flag = closeFlag != null
                ? closeFlag
                : error == null
                        ? FailureFlag.NONE
                        : error instanceof io.ztunnel.core.hbone.HboneException h
                                ? FailureFlag.of(h)
                                : abort == null
                                        ? FailureFlag.CONNECT // never relayed: the upstream connect failed
                                        : FailureFlag
                                                .NONE; // resets and errors during relaying end connections, they are
        // not failures
        // Resets and I/O errors while relaying are how connections end, not failures worth an error line.
        boolean normalEnd = error == null || (abort != null && error instanceof java.io.IOException);
        String reason = closeReason != null ? closeReason : normalEnd ? null : String.valueOf(error.getMessage());
        end(flag, reason);
    }

    /** Refused or failed before relaying (e.g. denied by policy, upstream unreachable). */
    public void fail(FailureFlag flag, String reason) {
        end(flag, reason);
    }

    private void end(FailureFlag flag, String reason) {
        if (!ended.compareAndSet(false, true)) {
            return;
        }
        tracker.remove(this);
        AccessLog.completed(this, reason);
        listener.closed(this, flag);
    }

    /** Closes the connection now, recording why (e.g. a policy change, which counts as DENY). */
    public void abort(String reason, FailureFlag flag) {
        closeReason = reason;
        closeFlag = flag;
        Runnable a = abort;
        if (a != null) {
            a.run();
        }
    }

    /** Closes the connection now, recording why. */
    public void abort(String reason) {
        abort(reason, null);
    }

    /** The {@code baggage} the client sent (inbound), for telemetry when its workload is unknown here. */
    public io.ztunnel.core.hbone.Baggage sourceBaggage() {
        return sourceBaggage;
    }

    public ConnectionRecord sourceBaggage(io.ztunnel.core.hbone.Baggage baggage) {
        this.sourceBaggage = baggage;
        return this;
    }

    /** Per-connection state of the {@link Listener} (e.g. its metric series). */
    public Object attachment() {
        return attachment;
    }

    public void attach(Object value) {
        this.attachment = value;
    }

    public String owner() {
        return owner;
    }

    public long id() {
        return id;
    }

    public Direction direction() {
        return direction;
    }

    public InetSocketAddress source() {
        return source;
    }

    public InetSocketAddress destination() {
        return destination;
    }

    public String hboneTarget() {
        return hboneTarget;
    }

    public SpiffeId sourceIdentity() {
        return sourceIdentity;
    }

    public Workload sourceWorkload() {
        return sourceWorkload;
    }

    public Workload destinationWorkload() {
        return destinationWorkload;
    }

    public Service destinationService() {
        return destinationService;
    }

    public SpiffeId destinationIdentity() {
        return destinationIdentity;
    }

    public Authorizer.Connection authorizationInput() {
        return authorizationInput;
    }

    public String decision() {
        return decision;
    }

    public Instant start() {
        return start;
    }

    public Duration age() {
        return Duration.ofNanos(System.nanoTime() - startNanos);
    }

    /** Bytes client → server so far. */
    public long received() {
        return received.get();
    }

    /** Bytes server → client so far. */
    public long sent() {
        return sent.get();
    }
}
