package io.ztunnel.core.proxy;

import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.rbac.Authorizer;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Everything known about one proxied connection, from decision to close: the parties, the bytes, the authorization
 * decision that admitted it. It observes the relay, keeps the connection listed in the {@link ConnectionTracker} while
 * it runs, and writes the access log line when it ends. Metrics hook in through {@link Listener}.
 *
 * <p>Threading: relay callbacks arrive on the connection's event loop; readers (admin API, policy re-evaluation) may
 * read the volatile and atomic fields from any thread.
 */
public final class ConnectionRecord implements ConnectionObserver {

    /** Extra observers of the connection's life (metrics). Called on the connection's event loop. */
    public interface Listener {
        default void bytes(ConnectionRecord record, long received, long sent) {}

        default void closed(ConnectionRecord record, Throwable error) {}
    }

    private static final AtomicLong IDS = new AtomicLong();

    private final long id = IDS.incrementAndGet();
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

    /**
     * @param hboneTarget the HBONE {@code :authority} for tunnelled connections, else null
     * @param authorizationInput for inbound connections, what policy re-evaluation needs; null for outbound
     * @param decision why the connection was admitted (e.g. {@code allowed by: ns/name}), for logs and the admin API
     */
    public ConnectionRecord(Direction direction, InetSocketAddress source, InetSocketAddress destination,
            String hboneTarget, SpiffeId sourceIdentity, Workload sourceWorkload, Workload destinationWorkload,
            Service destinationService, SpiffeId destinationIdentity, Authorizer.Connection authorizationInput,
            String decision, ConnectionTracker tracker, Listener listener) {
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

    @Override
    public void closed(Throwable error) {
        tracker.remove(this);
        String reason = closeReason;
        AccessLog.completed(this, reason != null ? reason : error == null ? null : String.valueOf(error.getMessage()));
        listener.closed(this, reason != null ? new IllegalStateException(reason) : error);
    }

    /** Closes the connection now, recording why (e.g. a policy change). */
    public void abort(String reason) {
        closeReason = reason;
        Runnable a = abort;
        if (a != null) {
            a.run();
        }
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
