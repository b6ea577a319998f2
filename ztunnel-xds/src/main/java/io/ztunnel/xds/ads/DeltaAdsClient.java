package io.ztunnel.xds.ads;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.ztunnel.xds.ErrorText;
import io.ztunnel.xds.XdsResources;
import io.ztunnel.xds.channel.ControlPlaneEndpoint;
import io.ztunnel.xds.proto.envoy.core.Node;
import io.ztunnel.xds.proto.envoy.discovery.AggregatedDiscoveryServiceGrpc;
import io.ztunnel.xds.proto.envoy.discovery.DeltaDiscoveryRequest;
import io.ztunnel.xds.proto.envoy.discovery.DeltaDiscoveryResponse;
import io.ztunnel.xds.proto.envoy.discovery.Resource;
import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.workload.Address;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * ztunnel's Delta ADS client: one {@code DeltaAggregatedResources} stream to istiod carrying the
 * two resource types ztunnel needs, {@value XdsResources#ADDRESS_TYPE_URL} and {@value
 * XdsResources#AUTHORIZATION_TYPE_URL}, both as wildcard subscriptions (or addresses on demand, below).
 *
 * <h2>Protocol</h2>
 *
 * <ul>
 *   <li>On every (re)connect, one request per type: the {@link NodeIdentity node}, the type URL,
 *       no subscribe names (wildcard), and {@code initial_resource_versions} with every resource
 *       currently held (name to version). Rejected resources are not held, so istiod resends them.
 *   <li>Each response is decoded and handed to the {@link XdsResourceHandler} per resource; it is
 *       then ACKed ({@code type_url}, {@code response_nonce}) or NACKed with {@code
 *       error_detail{code: 0, message: "name: reason; name2: reason2"}} listing exactly the
 *       rejected resources. The rest of a partly rejected response stays applied.
 *   <li>A response for a type URL the client does not know is logged and ACKed.
 *   <li>{@link #ready()} completes once every type has had a response that was ACKed (upstream
 *       holds ztunnel's readiness on this).
 * </ul>
 *
 * <h2>On demand ({@code XDS_ON_DEMAND})</h2>
 *
 * With {@link Builder#onDemand(boolean)} the initial {@value XdsResources#ADDRESS_TYPE_URL} request subscribes to
 * nothing ({@code resource_names_subscribe=["*"]} and {@code resource_names_unsubscribe=["*"]}), the authorization type
 * keeps its wildcard, and {@link #ready()} waits for the authorization type alone. {@link #demand(String)} then asks
 * for one address by name: a request with the type URL and {@code resource_names_subscribe=[name]} only (no node, no
 * nonce). A demand stays outstanding until an address response adds or removes that name; outstanding demands are
 * sent again right after the initial requests of every new stream, so a demand made while no stream is open, or lost
 * with a stream that ended, still reaches istiod.
 *
 * <h2>Reconnects</h2>
 *
 * When the stream ends the client reconnects after a delay. Routine endings reset the delay to
 * its initial 10 ms: a clean end of stream ({@link TerminationReason#COMPLETE}), or status {@code
 * UNKNOWN}, {@code CANCELLED}, {@code DEADLINE_EXCEEDED}, or {@code UNAVAILABLE} caused by the
 * server going away ({@link TerminationReason#RECONNECT}; istiod's max connection age). Failures
 * to establish the stream ({@link TerminationReason#CONNECTION_ERROR}) and other errors ({@link
 * TerminationReason#ERROR}) double it, up to 15 s.
 *
 * <h2>Threading and ownership</h2>
 *
 * The client owns one platform daemon thread ({@code xds-ads-client}) and the gRPC channel it
 * opens from the {@link ControlPlaneEndpoint} (on the endpoint's event loop group). All stream
 * state is confined to that thread: gRPC callbacks, handler and listener calls, and reconnect
 * timers all run there, so the handler sees responses one at a time, in order. {@link #start},
 * {@link #ready} and {@link #close} may be called from any thread. {@link #close} cancels the
 * stream, shuts the channel down and stops the thread; the handler is not called after it
 * returns.
 */
public final class DeltaAdsClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DeltaAdsClient.class);

    /**
     * The MDC key holding the number of the connection attempt (1, 2, ...) on the client's own thread, where every
     * stream event, response and handler call runs: what upstream's log lines show as the span {@code xds{id=N}}. The
     * thread is the client's alone, so the value is set once per attempt and never needs clearing.
     */
    public static final String LOG_CONNECTION_KEY = "xds.id";

    /** Upstream's initial and maximum reconnect delays. */
    public static final Duration DEFAULT_INITIAL_BACKOFF = Duration.ofMillis(10);

    public static final Duration DEFAULT_MAX_BACKOFF = Duration.ofSeconds(15);

    private static final List<String> SUBSCRIBED_TYPES =
            List.of(XdsResources.ADDRESS_TYPE_URL, XdsResources.AUTHORIZATION_TYPE_URL);

    private final ControlPlaneEndpoint endpoint;
    private final Node node;
    private final XdsResourceHandler handler;
    private final XdsClientListener listener;
    private final Duration initialBackoff;
    private final Duration maxBackoff;
    private final ScheduledExecutorService executor;
    private final Thread executorThread;
    private final ManagedChannel channel;
    private final CallOptions callOptions;
    private final boolean onDemand;
    private final CompletableFuture<Void> ready = new CompletableFuture<>();
    private final AtomicBoolean started = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();

    // Confined to the executor thread.
    private final Map<String, Map<String, String>> held = new LinkedHashMap<>();
    private final Set<String> awaitingFirstAck = new LinkedHashSet<>();
    /** Demanded names no address response has named yet; sent again after every new stream's initial requests. */
    private final Set<String> outstandingDemands = new LinkedHashSet<>();

    private @Nullable ClientCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> call;
    private @Nullable Stream stream;
    private int connectionId;
    private Duration backoff;
    private @Nullable ScheduledFuture<?> pendingReconnect;

    private DeltaAdsClient(Builder b) {
        this.endpoint = b.endpoint;
        this.node = b.node.toNode();
        this.handler = b.handler;
        this.listener = b.listener;
        this.initialBackoff = b.initialBackoff;
        this.maxBackoff = b.maxBackoff;
        this.onDemand = b.onDemand;
        this.backoff = initialBackoff;
        awaitingFirstAck.addAll(SUBSCRIBED_TYPES);
        if (onDemand) {
            // Addresses come one by one as they are demanded: nothing to wait for at start.
            awaitingFirstAck.remove(XdsResources.ADDRESS_TYPE_URL);
        }
        Thread[] threadHolder = new Thread[1];
        ScheduledThreadPoolExecutor exec = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = Thread.ofPlatform().daemon().name("xds-ads-client").unstarted(r);
            threadHolder[0] = t;
            return t;
        });
        exec.setRemoveOnCancelPolicy(true);
        exec.prestartCoreThread();
        this.executor = exec;
        this.executorThread = threadHolder[0];
        this.channel = endpoint.newChannel(executor);
        this.callOptions = CallOptions.DEFAULT.withCallCredentials(endpoint.callCredentials());
        for (String type : SUBSCRIBED_TYPES) {
            held.put(type, new LinkedHashMap<>());
        }
    }

    /**
     * Starts a builder.
     *
     * @param endpoint istiod's discovery endpoint ({@code XDS_ADDRESS} and friends)
     * @param node who this ztunnel is
     * @param handler receives the resources
     */
    public static Builder builder(ControlPlaneEndpoint endpoint, NodeIdentity node, XdsResourceHandler handler) {
        return new Builder(endpoint, node, handler);
    }

    /** Opens the stream (asynchronously). Idempotent. */
    public void start() {
        if (closed.get()) {
            throw new IllegalStateException("client is closed");
        }
        if (started.compareAndSet(false, true)) {
            log.atInfo()
                    .addKeyValue("address", endpoint.address())
                    .addKeyValue("node", node.getId())
                    .log("starting xDS client");
            runOnExecutor(this::connect);
        }
    }

    /**
     * Completes when each subscribed type has received a response that was ACKed; completes
     * exceptionally if the client is closed first.
     */
    public CompletableFuture<Void> ready() {
        return ready.copy();
    }

    /**
     * Asks istiod for one address by name ({@code network/ip}, a workload uid or {@code namespace/hostname}): a
     * Delta request with the address type URL and {@code resource_names_subscribe=[name]} only. Sent at once on the open
     * stream, or after the initial requests of the next one. Returns at once; the answer arrives as any push does.
     *
     * @throws IllegalStateException if the client was not built {@link Builder#onDemand on demand}
     */
    public void demand(String name) {
        Objects.requireNonNull(name, "name");
        if (!onDemand) {
            throw new IllegalStateException("the xDS client subscribes to every address; nothing to demand");
        }
        if (closed.get()) {
            return;
        }
        try {
            executor.execute(() -> {
                outstandingDemands.add(name);
                ClientCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> c = call;
                if (c != null && !closed.get()) {
                    sendDemand(c, name);
                }
            });
        } catch (RejectedExecutionException e) {
            // Closing: the waiter is completed by whoever closes.
        }
    }

    private void sendDemand(ClientCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> c, String name) {
        log.atDebug().addKeyValue("name", name).log("sending on-demand address request");
        c.sendMessage(DeltaDiscoveryRequest.newBuilder()
                .setTypeUrl(XdsResources.ADDRESS_TYPE_URL)
                .addResourceNamesSubscribe(name)
                .build());
    }

    /**
     * The resources currently held per type URL (name to version): what the next reconnect will
     * list in {@code initial_resource_versions}. A snapshot, for diagnostics and tests.
     */
    public Map<String, Map<String, String>> heldVersions() {
        try {
            return CompletableFuture.supplyAsync(
                            () -> {
                                Map<String, Map<String, String>> copy = new LinkedHashMap<>();
                                held.forEach((k, v) -> copy.put(k, Map.copyOf(v)));
                                return Map.copyOf(copy);
                            },
                            executor)
                    .get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException | TimeoutException | RejectedExecutionException e) {
            throw new IllegalStateException("client is not running", e);
        }
    }

    // ----- stream lifecycle (executor thread) ------------------------------------------------------

    private void connect() {
        pendingReconnect = null;
        if (closed.get()) {
            return;
        }
        int id = ++connectionId;
        // Everything logged on this thread from now on belongs to this connection attempt: upstream's xds{id=N} span.
        MDC.put(LOG_CONNECTION_KEY, Integer.toString(id));
        Stream s = new Stream(id);
        stream = s;
        ClientCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> c =
                channel.newCall(AggregatedDiscoveryServiceGrpc.getDeltaAggregatedResourcesMethod(), callOptions);
        call = c;
        log.atDebug().addKeyValue("address", endpoint.address()).log("opening ADS stream");
        c.start(s, new Metadata());
        c.request(1);
        for (String type : SUBSCRIBED_TYPES) {
            Map<String, String> versions = versionsOf(type);
            DeltaDiscoveryRequest.Builder initial = DeltaDiscoveryRequest.newBuilder()
                    .setNode(node)
                    .setTypeUrl(type)
                    .putAllInitialResourceVersions(versions);
            if (onDemand && type.equals(XdsResources.ADDRESS_TYPE_URL)) {
                // Subscribe to nothing: istiod reads "*" in both lists as "not a wildcard subscription".
                initial.addResourceNamesSubscribe("*").addResourceNamesUnsubscribe("*");
            }
            log.atDebug()
                    .addKeyValue("type_url", type)
                    .addKeyValue("initial_resources", versions.size())
                    .log("sending initial request");
            c.sendMessage(initial.build());
        }
        for (String name : outstandingDemands) {
            sendDemand(c, name);
        }
    }

    /** The versions held for a subscribed type; every subscribed type has an entry from construction on. */
    private Map<String, String> versionsOf(String typeUrl) {
        Map<String, String> versions = held.get(typeUrl);
        if (versions == null) {
            throw new IllegalStateException("not a subscribed type: " + typeUrl);
        }
        return versions;
    }

    /** The call listener of one stream; events of superseded streams are ignored. */
    private final class Stream extends ClientCall.Listener<DeltaDiscoveryResponse> {
        final int id;
        boolean established;

        Stream(int id) {
            this.id = id;
        }

        @Override
        public void onHeaders(Metadata headers) {
            if (stream == this) {
                established = true;
                log.atInfo().log("ADS stream established");
            }
        }

        @Override
        public void onMessage(DeltaDiscoveryResponse response) {
            if (stream != this || closed.get()) {
                return;
            }
            established = true;
            handleResponse(id, response);
            ClientCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> c = call;
            if (stream == this && c != null) {
                c.request(1);
            }
        }

        @Override
        public void onClose(Status status, Metadata trailers) {
            if (stream != this) {
                return;
            }
            stream = null;
            call = null;
            if (closed.get()) {
                return;
            }
            TerminationReason reason = classify(status, established);
            Duration delay;
            if (reason == TerminationReason.COMPLETE || reason == TerminationReason.RECONNECT) {
                backoff = initialBackoff;
                delay = initialBackoff;
            } else {
                // Use the current step, then double it for next time: 10 ms, 20 ms, 40 ms ... up to the maximum.
                delay = backoff;
                Duration doubled = backoff.multipliedBy(2);
                backoff = doubled.compareTo(maxBackoff) > 0 ? maxBackoff : doubled;
            }
            var event = reason == TerminationReason.COMPLETE || reason == TerminationReason.RECONNECT
                    ? log.atInfo()
                    : log.atWarn();
            event.addKeyValue("reason", reason.label())
                    .addKeyValue("code", status.getCode())
                    .addKeyValue("retryInMs", delay.toMillis())
                    .addKeyValue("status", describe(status))
                    .log("ADS stream ended");
            if (status.getCause() != null) {
                log.atDebug().setCause(status.getCause()).log("ADS stream failure detail");
            }
            notifyListener(() -> listener.onConnectionTerminated(reason));
            try {
                pendingReconnect =
                        executor.schedule(DeltaAdsClient.this::connect, delay.toNanos(), TimeUnit.NANOSECONDS);
            } catch (RejectedExecutionException e) {
                // Closing.
            }
        }
    }

    /** Maps a stream's final status to upstream's termination reasons. */
    static TerminationReason classify(Status status, boolean established) {
        if (status.isOk()) {
            return TerminationReason.COMPLETE;
        }
        if (!established) {
            return TerminationReason.CONNECTION_ERROR;
        }
        String description =
                status.getDescription() == null ? "" : status.getDescription().toLowerCase(Locale.ROOT);
        return switch (status.getCode()) {
            case UNKNOWN, CANCELLED, DEADLINE_EXCEEDED -> TerminationReason.RECONNECT;
            case UNAVAILABLE ->
                // Go's wording (upstream's list) and grpc-java's wording for a server going away.
                description.contains("transport is closing")
                                || description.contains("received prior goaway")
                                || description.contains("goaway")
                        ? TerminationReason.RECONNECT
                        : TerminationReason.ERROR;
            default -> TerminationReason.ERROR;
        };
    }

    /** Status plus the innermost cause's message (e.g. the TLS or token problem), on one line. */
    static String describe(Status status) {
        StringBuilder sb = new StringBuilder(status.getCode().toString());
        if (status.getDescription() != null) {
            sb.append(": ").append(status.getDescription());
        }
        Throwable cause = status.getCause();
        if (cause != null) {
            // Bounded: a cause chain may loop back on itself.
            for (int depth = 0; depth < 16 && cause.getCause() != null; depth++) {
                cause = cause.getCause();
            }
            sb.append(" (").append(ErrorText.of(cause)).append(')');
        }
        return sb.toString();
    }

    // ----- responses (executor thread) -------------------------------------------------------------

    private void handleResponse(int id, DeltaDiscoveryResponse response) {
        String typeUrl = response.getTypeUrl();
        notifyListener(() -> listener.onMessage(typeUrl, response.getSerializedSize()));
        log.atDebug()
                .addKeyValue("type_url", typeUrl)
                .addKeyValue("nonce", response.getNonce())
                .addKeyValue("resources", response.getResourcesCount())
                .addKeyValue("removes", response.getRemovedResourcesCount())
                .log("received response");

        List<ResourceError> errors;
        if (typeUrl.equals(XdsResources.ADDRESS_TYPE_URL)) {
            errors = apply(response, Address.parser(), handler::applyAddresses);
            if (!outstandingDemands.isEmpty()) {
                response.getResourcesList().forEach(r -> outstandingDemands.remove(r.getName()));
                response.getRemovedResourcesList().forEach(outstandingDemands::remove);
            }
        } else if (typeUrl.equals(XdsResources.AUTHORIZATION_TYPE_URL)) {
            errors = apply(response, Authorization.parser(), handler::applyAuthorizations);
        } else {
            log.atWarn().addKeyValue("type_url", typeUrl).log("response for an unknown type URL; ACKing it");
            errors = List.of();
        }

        DeltaDiscoveryRequest.Builder reply =
                DeltaDiscoveryRequest.newBuilder().setTypeUrl(typeUrl).setResponseNonce(response.getNonce());
        if (errors.isEmpty()) {
            log.atDebug()
                    .addKeyValue("type_url", typeUrl)
                    .addKeyValue("nonce", response.getNonce())
                    .log("sending ACK");
            if (awaitingFirstAck.remove(typeUrl) && awaitingFirstAck.isEmpty()) {
                log.atInfo().log("xDS initial sync complete for all types");
                ready.complete(null);
            }
        } else {
            String message = joinErrors(errors);
            reply.getErrorDetailBuilder().setCode(0).setMessage(message);
            log.atWarn()
                    .addKeyValue("type_url", typeUrl)
                    .addKeyValue("nonce", response.getNonce())
                    .addKeyValue("rejected", errors.size())
                    .addKeyValue("error", message)
                    .log("sending NACK");
        }
        int rejected = errors.size();
        notifyListener(() -> listener.onResponseProcessed(
                typeUrl, response.getResourcesCount(), response.getRemovedResourcesCount(), rejected));
        ClientCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> c = call;
        if (c != null) {
            c.sendMessage(reply.build());
        }
    }

    static String joinErrors(List<ResourceError> errors) {
        StringBuilder sb = new StringBuilder();
        for (ResourceError e : errors) {
            if (!sb.isEmpty()) {
                sb.append("; ");
            }
            sb.append(e.name()).append(": ").append(e.reason());
        }
        return sb.toString();
    }

    @FunctionalInterface
    private interface Apply<T extends Message> {
        List<ResourceError> apply(List<XdsResource<T>> upserts, List<String> removals);
    }

    private <T extends Message> List<ResourceError> apply(
            DeltaDiscoveryResponse response, Parser<T> parser, Apply<T> apply) {
        String typeUrl = response.getTypeUrl();
        List<ResourceError> errors = new ArrayList<>();
        List<XdsResource<T>> upserts = new ArrayList<>(response.getResourcesCount());
        for (Resource r : response.getResourcesList()) {
            String name = r.getName();
            if (!r.hasResource()) {
                errors.add(new ResourceError(name, "resource has no body"));
                continue;
            }
            if (!r.getResource().getTypeUrl().equals(typeUrl)) {
                errors.add(new ResourceError(
                        name,
                        "resource type " + r.getResource().getTypeUrl() + " does not match response type " + typeUrl));
                continue;
            }
            try {
                T message = parser.parseFrom(r.getResource().getValue());
                upserts.add(new XdsResource<>(name, r.getVersion(), message, r.getAliasesList()));
            } catch (InvalidProtocolBufferException e) {
                errors.add(new ResourceError(name, "cannot decode: " + ErrorText.of(e)));
            }
        }
        List<String> removals = response.getRemovedResourcesList();

        List<ResourceError> rejected;
        try {
            rejected = Objects.requireNonNullElse(apply.apply(List.copyOf(upserts), List.copyOf(removals)), List.of());
        } catch (RuntimeException e) {
            log.atError().addKeyValue("type_url", typeUrl).setCause(e).log("xDS handler failed");
            rejected = new ArrayList<>();
            for (XdsResource<T> u : upserts) {
                rejected.add(new ResourceError(u.name(), "internal error: " + ErrorText.of(e)));
            }
        }
        errors.addAll(rejected);

        Map<String, String> versions = versionsOf(typeUrl);
        for (String removed : removals) {
            versions.remove(removed);
        }
        for (XdsResource<T> u : upserts) {
            versions.put(u.name(), u.version());
        }
        for (ResourceError e : errors) {
            versions.remove(e.name());
        }
        return errors;
    }

    private void notifyListener(Runnable notification) {
        try {
            notification.run();
        } catch (RuntimeException e) {
            log.atWarn().setCause(e).log("xDS client listener failed");
        }
    }

    private void runOnExecutor(Runnable task) {
        try {
            executor.execute(task);
        } catch (RejectedExecutionException e) {
            throw new IllegalStateException("client is closed", e);
        }
    }

    // ----- shutdown --------------------------------------------------------------------------------

    /**
     * Cancels the stream, shuts down the channel and stops the client's thread. Idempotent; waits
     * up to about 10 s in total. Must not be called from the handler or listener.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        log.atInfo().addKeyValue("address", endpoint.address()).log("closing xDS client");
        Runnable stop = () -> {
            ScheduledFuture<?> reconnect = pendingReconnect;
            if (reconnect != null) {
                reconnect.cancel(false);
                pendingReconnect = null;
            }
            ClientCall<DeltaDiscoveryRequest, DeltaDiscoveryResponse> current = call;
            call = null;
            stream = null;
            if (current != null) {
                current.cancel("xDS client closed", null);
            }
            ready.completeExceptionally(new IllegalStateException("xDS client closed before it was ready"));
        };
        if (Thread.currentThread() == executorThread) {
            stop.run();
        } else {
            try {
                executor.submit(stop).get(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException | RejectedExecutionException e) {
                log.atWarn().setCause(e).log("stopping the ADS stream failed");
            }
        }
        channel.shutdownNow();
        executor.shutdown();
        if (Thread.currentThread() != executorThread) {
            try {
                channel.awaitTermination(5, TimeUnit.SECONDS);
                executor.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Builds a {@link DeltaAdsClient}. Not thread-safe. */
    public static final class Builder {
        private final ControlPlaneEndpoint endpoint;
        private final NodeIdentity node;
        private final XdsResourceHandler handler;
        private XdsClientListener listener = XdsClientListener.NOOP;
        private Duration initialBackoff = DEFAULT_INITIAL_BACKOFF;
        private Duration maxBackoff = DEFAULT_MAX_BACKOFF;
        private boolean onDemand;

        private Builder(ControlPlaneEndpoint endpoint, NodeIdentity node, XdsResourceHandler handler) {
            this.endpoint = Objects.requireNonNull(endpoint, "endpoint");
            this.node = Objects.requireNonNull(node, "node");
            this.handler = Objects.requireNonNull(handler, "handler");
        }

        /** Metrics and health observer. */
        public Builder listener(XdsClientListener listener) {
            this.listener = Objects.requireNonNull(listener, "listener");
            return this;
        }

        /** Reconnect delays (upstream: 10 ms initial, 15 s maximum). */
        public Builder backoff(Duration initial, Duration max) {
            if (initial == null
                    || initial.isNegative()
                    || initial.isZero()
                    || max == null
                    || max.compareTo(initial) < 0) {
                throw new IllegalArgumentException(
                        "backoff: initial " + initial + ", max " + max + " (expected: 0 < initial <= max)");
            }
            this.initialBackoff = initial;
            this.maxBackoff = max;
            return this;
        }

        /**
         * {@code XDS_ON_DEMAND}: addresses are not subscribed to as a wildcard but {@linkplain DeltaAdsClient#demand
         * demanded} by name; readiness waits for the authorization type only.
         */
        public Builder onDemand(boolean onDemand) {
            this.onDemand = onDemand;
            return this;
        }

        /** Builds the client and opens its channel (lazily connected); call {@link #start} next. */
        public DeltaAdsClient build() {
            return new DeltaAdsClient(this);
        }
    }
}
