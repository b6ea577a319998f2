package io.ztunnel.xds.ca;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.ztunnel.xds.channel.ControlPlaneEndpoint;
import io.ztunnel.xds.proto.ca.IstioCertificateRequest;
import io.ztunnel.xds.proto.ca.IstioCertificateResponse;
import io.ztunnel.xds.proto.ca.IstioCertificateServiceGrpc;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Client of istiod's CA: {@code /istio.v1.auth.IstioCertificateService/CreateCertificate}.
 *
 * <p>Sends the PEM CSR, the validity in seconds and, in shared mode only, the metadata {@code
 * {"ImpersonatedIdentity": "<spiffe id>"}}; the call carries the endpoint's metadata (bearer
 * token re-read per call, {@code clusterid}, {@code CA_HEADER_*}). Returns istiod's PEM chain
 * unchanged: the leaf first, intermediates, and the root bundle last (which may hold several
 * concatenated roots). Key and CSR generation, and checking the leaf's identity, are the
 * caller's.
 *
 * <p>A response without at least a leaf and a root is an error ({@code "no root certificate
 * present"}, as upstream), since the roots at the end of the chain are the mesh trust anchors.
 *
 * <p>Threading and ownership: thread-safe; any number of requests may be in flight. The client
 * owns its gRPC channel (opened on the endpoint's event loop group) and one small callback thread
 * ({@code istio-ca-client}) on which returned futures complete, so dependent stages should not
 * block. {@link #close} cancels nothing in flight explicitly but shuts the channel down, failing
 * outstanding calls.
 */
public final class IstioCaClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(IstioCaClient.class);

    /** Default per-request deadline. */
    public static final Duration DEFAULT_DEADLINE = Duration.ofSeconds(30);

    private final ControlPlaneEndpoint endpoint;
    private final Duration deadline;
    private final ExecutorService executor;
    /** Requests on the wire; failed by {@link #close()} if the channel's own cancellation does not reach them. */
    private final Set<CompletableFuture<List<String>>> pending = ConcurrentHashMap.newKeySet();

    private final ManagedChannel channel;
    private final IstioCertificateServiceGrpc.IstioCertificateServiceStub stub;
    private final AtomicBoolean closed = new AtomicBoolean();

    private IstioCaClient(ControlPlaneEndpoint endpoint, Duration deadline) {
        this.endpoint = endpoint;
        this.deadline = deadline;
        this.executor = Executors.newSingleThreadExecutor(
                r -> Thread.ofPlatform().daemon().name("istio-ca-client").unstarted(r));
        this.channel = endpoint.newChannel(executor);
        this.stub = IstioCertificateServiceGrpc.newStub(channel).withCallCredentials(endpoint.callCredentials());
    }

    /** Creates a client with the default 30 s deadline per request. */
    public static IstioCaClient create(ControlPlaneEndpoint endpoint) {
        return create(endpoint, DEFAULT_DEADLINE);
    }

    /** Creates a client; {@code deadline} bounds each request. */
    public static IstioCaClient create(ControlPlaneEndpoint endpoint, Duration deadline) {
        Objects.requireNonNull(endpoint, "endpoint");
        if (deadline == null || deadline.isNegative() || deadline.isZero()) {
            throw new IllegalArgumentException("deadline: " + deadline + " (expected: > 0)");
        }
        return new IstioCaClient(endpoint, deadline);
    }

    /**
     * Asks istiod to sign a CSR.
     *
     * @return a future of the PEM chain (leaf first, root bundle last), failing with {@link
     *     CaException} on any error
     */
    public CompletableFuture<List<String>> createCertificate(CertificateRequest request) {
        Objects.requireNonNull(request, "request");
        CompletableFuture<List<String>> result = new CompletableFuture<>();
        if (closed.get()) {
            result.completeExceptionally(new CaException("CA client is closed", Status.Code.CANCELLED, null));
            return result;
        }
        IstioCertificateRequest.Builder message = IstioCertificateRequest.newBuilder()
                .setCsr(request.csrPem())
                .setValidityDuration(request.validity().toSeconds());
        request.impersonatedIdentity()
                .ifPresent(id -> message.setMetadata(Struct.newBuilder()
                        .putFields(
                                "ImpersonatedIdentity",
                                Value.newBuilder().setStringValue(id).build())));
        String identity = request.impersonatedIdentity().orElse("(self)");
        pending.add(result);
        result.whenComplete((chain, error) -> pending.remove(result));
        stub.withDeadlineAfter(deadline.toNanos(), TimeUnit.NANOSECONDS)
                .createCertificate(message.build(), new StreamObserver<>() {
                    private @Nullable IstioCertificateResponse response;

                    @Override
                    public void onNext(IstioCertificateResponse value) {
                        response = value;
                    }

                    @Override
                    public void onError(Throwable t) {
                        Status status = Status.fromThrowable(t);
                        String text = "istiod CA at "
                                + endpoint.address()
                                + " refused the certificate request for "
                                + identity
                                + ": "
                                + status.getCode()
                                + (status.getDescription() == null ? "" : ": " + status.getDescription());
                        log.atWarn()
                                .addKeyValue("address", endpoint.address())
                                .addKeyValue("identity", identity)
                                .addKeyValue("code", status.getCode())
                                .addKeyValue("description", Objects.requireNonNullElse(status.getDescription(), ""))
                                .log("istiod CA refused the certificate request");
                        result.completeExceptionally(new CaException(
                                text,
                                status.getCode(),
                                t instanceof StatusRuntimeException ? t : status.asException()));
                    }

                    @Override
                    public void onCompleted() {
                        IstioCertificateResponse r = response;
                        List<String> chain = r == null ? List.of() : List.copyOf(r.getCertChainList());
                        String problem = null;
                        if (chain.isEmpty()) {
                            problem = "empty certificate chain";
                        } else if (chain.stream().anyMatch(String::isBlank)) {
                            problem = "blank element in the certificate chain";
                        } else if (chain.size() < 2) {
                            problem = "no root certificate present";
                        }
                        if (problem != null) {
                            String text = "istiod CA at " + endpoint.address() + " returned an unusable chain for "
                                    + identity + ": " + problem;
                            log.atWarn()
                                    .addKeyValue("address", endpoint.address())
                                    .addKeyValue("identity", identity)
                                    .addKeyValue("problem", problem)
                                    .log("istiod CA returned an unusable certificate chain");
                            result.completeExceptionally(new CaException(text, Status.Code.OK, null));
                            return;
                        }
                        log.atDebug()
                                .addKeyValue("identity", identity)
                                .addKeyValue("chainLength", chain.size())
                                .log("certificate signed by istiod");
                        result.complete(chain);
                    }
                });
        return result;
    }

    /** Shuts down the channel and the callback thread. Idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        // The channel first, while the callback executor still runs: cancelled calls report CANCELLED to their
        // observers on it, which completes their futures; only then is the executor stopped.
        channel.shutdownNow();
        try {
            channel.awaitTermination(5, TimeUnit.SECONDS);
            executor.shutdown();
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            executor.shutdownNow();
            CaException closedError = new CaException("CA client is closed", Status.Code.CANCELLED, null);
            List.copyOf(pending).forEach(f -> f.completeExceptionally(closedError));
        }
    }
}
