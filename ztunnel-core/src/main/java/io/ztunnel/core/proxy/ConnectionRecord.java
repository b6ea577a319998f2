package io.ztunnel.core.proxy;

import io.ztunnel.core.hbone.Baggage;
import io.ztunnel.core.hbone.HboneException;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.net.ConnectionObserver;
import io.ztunnel.core.rbac.Authorizer;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import io.ztunnel.core.util.Errors;
import io.ztunnel.core.util.LogSpan;
import io.ztunnel.metrics.ResponseFlags;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * Everything known about one proxied connection, from the routing decision to close: the parties, the bytes, the
 * authorization decision that admitted it, and how it ended.
 *
 * <p>Its life: {@link Builder#open} once the connection's context is known (telemetry counts it opened); then either
 * a refusal or failure before relaying ({@link #deny}, {@link #fail}, or {@link #closed} with the connect error:
 * access log at ERROR, telemetry closed with the response flag) or {@link #established} (relaying, listed in the
 * {@link ConnectionTracker}) followed by {@link #closed}. How an end maps to Istio's {@code response_flags} is decided
 * in one place, {@link #responseFlag}.
 *
 * <p>Threading: relay callbacks arrive on the connection's event loop; readers (admin API, policy re-evaluation) may
 * read the volatile and atomic fields from any thread. The end takes effect once. The telemetry handle belongs to the
 * record and is closed exactly once, with the end.
 */
public final class ConnectionRecord implements ConnectionObserver {
    private static final AtomicLong IDS = new AtomicLong();

    private final long id = IDS.incrementAndGet();
    private final String owner;
    private final Direction direction;
    private final InetSocketAddress source;
    private final @Nullable Workload sourceWorkload;
    private final @Nullable SpiffeId sourceIdentity;
    private final @Nullable Baggage sourceBaggage;
    private final InetSocketAddress destination;
    private final InetSocketAddress originalDestination;
    private final @Nullable Workload destinationWorkload;
    private final @Nullable Service destinationService;
    private final @Nullable SpiffeId destinationIdentity;
    private final @Nullable Baggage destinationBaggage;
    private final @Nullable String hboneTarget;
    private final @Nullable String forwardedHost;
    private final Authorizer.@Nullable Connection authorizationInput;
    private final String decision;
    private final @Nullable LogSpan logSpan;
    private final ConnectionTracker tracker;
    private final Instant start = Instant.now();
    private final long startNanos = System.nanoTime();
    private final AtomicLong received = new AtomicLong();
    private final AtomicLong sent = new AtomicLong();
    private final AtomicBoolean ended = new AtomicBoolean();
    /** Set by {@link Builder#open} before the record is shared with any other thread. */
    private ConnectionTelemetry.Handle telemetry = ConnectionTelemetry.Handle.NONE;

    private volatile @Nullable Runnable abort;
    private volatile @Nullable String closeReason;
    private volatile @Nullable ResponseFlags closeFlag;

    private ConnectionRecord(Builder b, ConnectionTracker tracker) {
        this.owner = b.owner;
        this.direction = b.direction;
        this.source = Objects.requireNonNull(b.source, "source");
        this.sourceWorkload = b.sourceWorkload;
        this.sourceIdentity = b.sourceIdentity;
        this.sourceBaggage = b.sourceBaggage;
        this.destination = Objects.requireNonNull(b.destination, "destination");
        this.originalDestination = b.originalDestination != null ? b.originalDestination : destination;
        this.destinationWorkload = b.destinationWorkload;
        this.destinationService = b.destinationService;
        this.destinationIdentity = b.destinationIdentity;
        this.destinationBaggage = b.destinationBaggage;
        this.hboneTarget = b.hboneTarget;
        this.forwardedHost = b.forwardedHost;
        this.authorizationInput = b.authorizationInput;
        this.decision = b.decision;
        this.logSpan = b.logSpan;
        this.tracker = tracker;
    }

    /**
     * Starts describing a connection.
     *
     * @param owner the proxy (local workload) the connection belongs to, e.g. {@code ns/name/sa}
     */
    public static Builder builder(Direction direction, String owner) {
        return new Builder(direction, owner);
    }

    /**
     * How a connection that ended with {@code error} is labelled in {@code response_flags}: the one mapping from
     * failures to flags (policy denials are {@link ResponseFlags#DENY}, set where the policy decided).
     *
     * @param relayed whether bytes were being relayed: resets and errors then end connections, they are not failures
     */
    static ResponseFlags responseFlag(@Nullable Throwable error, boolean relayed) {
        return switch (error) {
            case null -> ResponseFlags.NONE;
            case HboneException h ->
                switch (h.kind()) {
                    case CONNECT, HTTP_STATUS, NO_CERTIFICATE -> ResponseFlags.CONNECT;
                    case NETWORK_POLICY -> ResponseFlags.NETWORK_POLICY;
                    case TLS_FAILURE -> ResponseFlags.TLS_FAILURE;
                    case IDENTITY_ERROR -> ResponseFlags.IDENTITY_ERROR;
                    case H2_HANDSHAKE_FAILURE -> ResponseFlags.H2_HANDSHAKE_FAILURE;
                    case CERT_REVOKED -> ResponseFlags.CERT_REVOKED;
                };
            default -> relayed ? ResponseFlags.NONE : ResponseFlags.CONNECT;
        };
    }

    /** The span of the connection's log lines (not of its access-log lines, which have none), or null. */
    @Override
    public @Nullable LogSpan logSpan() {
        return logSpan;
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
        telemetry.bytes(receivedBytes, sentBytes);
    }

    /**
     * The relay ended ({@code error} is {@code null} for a normal end), or, before any relay, the connection attempt
     * failed with {@code error}.
     */
    @Override
    public void closed(@Nullable Throwable error) {
        boolean relayed = abort != null;
        ResponseFlags flag = closeFlag != null ? closeFlag : responseFlag(error, relayed);
        // Resets and I/O errors while relaying are how connections end, not failures worth an error line.
        // A revocation is the one relay end worth its error text (upstream's "peer certificate revoked by CRL").
        boolean normalEnd = error == null
                || (relayed
                        && error instanceof IOException
                        && !(error instanceof HboneException h && h.kind() == HboneException.Kind.CERT_REVOKED));
        String reason = closeReason != null ? closeReason : normalEnd || error == null ? null : Errors.message(error);
        end(flag, reason);
    }

    /** Refused by authorization policy before relaying. */
    public void deny(String reason) {
        end(ResponseFlags.DENY, reason);
    }

    /** Failed before relaying with {@code cause}, described by {@code reason}. */
    public void fail(Throwable cause, String reason) {
        end(responseFlag(cause, false), reason);
    }

    private void end(ResponseFlags flag, @Nullable String reason) {
        if (!ended.compareAndSet(false, true)) {
            return;
        }
        tracker.remove(this);
        AccessLog.completed(this, reason);
        telemetry.closed(flag);
    }

    /** Closes the connection now, recording why and, when not {@code null}, the flag it ends with. */
    public void abort(String reason, @Nullable ResponseFlags flag) {
        closeReason = reason;
        closeFlag = flag;
        Runnable a = abort;
        if (a != null) {
            a.run();
        }
    }

    /**
     * Records why the connection is about to be closed without closing it yet: when one daemon cuts many
     * connections at once, a connection that ends as a side effect of another's close (the inbound half of an HBONE
     * pair that both ends in this daemon) reports the same reason.
     */
    public void closing(String reason) {
        closeReason = reason;
    }

    /** Closes the connection now, recording why (the pod left, the drain ended). */
    public void abort(String reason) {
        abort(reason, null);
    }

    /** The {@code baggage} the client sent (inbound), for telemetry when its workload is unknown here. */
    public @Nullable Baggage sourceBaggage() {
        return sourceBaggage;
    }

    /**
     * The {@code baggage} the far end of a double-HBONE tunnel answered with (outbound): the destination's labels, as
     * its workload is not known on this network.
     */
    public @Nullable Baggage destinationBaggage() {
        return destinationBaggage;
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

    /** Where the connection went: the upstream address, or on HBONE the tunnel's next hop ({@code ip:15008}). */
    public InetSocketAddress destination() {
        return destination;
    }

    /** What the client asked for (its original destination); {@link #destination} unless it was tunnelled. */
    public InetSocketAddress originalDestination() {
        return originalDestination;
    }

    public @Nullable String hboneTarget() {
        return hboneTarget;
    }

    /** Inbound HBONE: the {@code host=} of the {@code Forwarded} header the client (a waypoint) sent, if any. */
    public @Nullable String forwardedHost() {
        return forwardedHost;
    }

    /**
     * Whether the connection is mutual TLS (Istio's {@code connection_security_policy="mutual_tls"}): outbound, a
     * (double) HBONE tunnel; inbound, a client that presented an identity. Only then are identities logged.
     */
    public boolean mutualTls() {
        return direction == Direction.INBOUND ? sourceIdentity != null : hboneTarget != null;
    }

    public @Nullable SpiffeId sourceIdentity() {
        return sourceIdentity;
    }

    public @Nullable Workload sourceWorkload() {
        return sourceWorkload;
    }

    public @Nullable Workload destinationWorkload() {
        return destinationWorkload;
    }

    public @Nullable Service destinationService() {
        return destinationService;
    }

    public @Nullable SpiffeId destinationIdentity() {
        return destinationIdentity;
    }

    /** For inbound connections, what policy re-evaluation needs; {@code null} for outbound. */
    public Authorizer.@Nullable Connection authorizationInput() {
        return authorizationInput;
    }

    /** Why the connection was admitted (e.g. {@code allowed by: ns/name}), for logs and the admin API. */
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

    /** Describes a connection; {@link #open} makes the record. Not thread-safe (one connection's setup). */
    public static final class Builder {
        private final Direction direction;
        private final String owner;
        private @Nullable InetSocketAddress source;
        private @Nullable Workload sourceWorkload;
        private @Nullable SpiffeId sourceIdentity;
        private @Nullable Baggage sourceBaggage;
        private @Nullable InetSocketAddress destination;
        private @Nullable InetSocketAddress originalDestination;
        private @Nullable Workload destinationWorkload;
        private @Nullable Service destinationService;
        private @Nullable SpiffeId destinationIdentity;
        private @Nullable Baggage destinationBaggage;
        private @Nullable String hboneTarget;
        private @Nullable String forwardedHost;
        private Authorizer.@Nullable Connection authorizationInput;
        private String decision = "outbound";
        private @Nullable LogSpan logSpan;

        private Builder(Direction direction, String owner) {
            this.direction = direction;
            this.owner = owner;
        }

        /**
         * The client side.
         *
         * @param workload its workload when known here
         * @param identity its SPIFFE identity when it is known (mutual TLS, or our own outbound source)
         */
        public Builder source(InetSocketAddress address, @Nullable Workload workload, @Nullable SpiffeId identity) {
            this.source = address;
            this.sourceWorkload = workload;
            this.sourceIdentity = identity;
            return this;
        }

        /** The {@code baggage} an inbound HBONE client sent, for telemetry when its workload is unknown here. */
        public Builder sourceBaggage(@Nullable Baggage baggage) {
            this.sourceBaggage = baggage;
            return this;
        }

        /**
         * The server side.
         *
         * @param address where the connection goes: the upstream, the HBONE next hop ({@code ip:15008}) for a tunnel,
         *     or, inbound, the listener the client reached
         * @param workload the destination workload when known
         * @param service the destination service when known
         * @param identity the identity expected (outbound HBONE) or presented (inbound mutual TLS)
         */
        public Builder destination(
                InetSocketAddress address,
                @Nullable Workload workload,
                @Nullable Service service,
                @Nullable SpiffeId identity) {
            this.destination = address;
            this.destinationWorkload = workload;
            this.destinationService = service;
            this.destinationIdentity = identity;
            return this;
        }

        /** What the client asked for, when {@link #destination} is a tunnel's next hop rather than that. */
        public Builder originalDestination(InetSocketAddress address) {
            this.originalDestination = address;
            return this;
        }

        /** The far end's {@code baggage} (double HBONE), standing in for a destination workload unknown here. */
        public Builder destinationBaggage(@Nullable Baggage baggage) {
            this.destinationBaggage = baggage;
            return this;
        }

        /** The HBONE {@code :authority}, for tunnelled connections. */
        public Builder hboneTarget(@Nullable String authority) {
            this.hboneTarget = authority;
            return this;
        }

        /** The {@code host=} of an inbound CONNECT's {@code Forwarded} header ({@code /config_dump} originalDst). */
        public Builder forwardedHost(@Nullable String host) {
            this.forwardedHost = host;
            return this;
        }

        /** The span the connection's log lines carry ({@code proxy{…}:inbound{…}}, {@code proxy{…}:outbound{…}}). */
        public Builder logSpan(@Nullable LogSpan span) {
            this.logSpan = span;
            return this;
        }

        /**
         * How an inbound connection was authorized: the input, kept for re-evaluation when policies change, and the
         * decision's reason.
         */
        public Builder authorization(Authorizer.Connection input, String reason) {
            this.authorizationInput = input;
            this.decision = reason;
            return this;
        }

        /**
         * Makes the record, reports it opened to {@code telemetry} and to the access log (DEBUG {@code connection
         * opened}); its live phase is listed in {@code tracker}.
         */
        public ConnectionRecord open(ConnectionTracker tracker, ConnectionTelemetry telemetry) {
            ConnectionRecord record = new ConnectionRecord(this, tracker);
            record.telemetry = telemetry.opened(record);
            AccessLog.opened(record);
            return record;
        }
    }
}
