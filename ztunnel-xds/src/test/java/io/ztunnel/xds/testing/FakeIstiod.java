package io.ztunnel.xds.testing;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import com.google.protobuf.Value;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.ztunnel.xds.ErrorText;
import io.ztunnel.xds.XdsResources;
import io.ztunnel.xds.proto.ca.IstioCertificateRequest;
import io.ztunnel.xds.proto.ca.IstioCertificateResponse;
import io.ztunnel.xds.proto.ca.IstioCertificateServiceGrpc;
import io.ztunnel.xds.proto.envoy.discovery.AggregatedDiscoveryServiceGrpc;
import io.ztunnel.xds.proto.envoy.discovery.DeltaDiscoveryRequest;
import io.ztunnel.xds.proto.envoy.discovery.DeltaDiscoveryResponse;
import io.ztunnel.xds.proto.envoy.discovery.Resource;
import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.workload.Address;
import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Predicate;
import javax.net.ssl.SSLException;
import org.jspecify.annotations.Nullable;

/**
 * An in-process istiod for tests: a real grpc-java server on loopback (TLS with a test root by
 * default, or plaintext) serving Delta ADS and the CA.
 *
 * <h2>ADS semantics</h2>
 *
 * <ul>
 *   <li>The server holds resources per type URL (name to version and body); every change gets a
 *       new version.
 *   <li>A request without a response nonce opens a (wildcard) subscription for its type and is
 *       answered at once with every resource the client does not already hold at the same version
 *       (per {@code initial_resource_versions}), plus {@code removed_resources} for held names the
 *       server no longer has; the response is sent even if empty.
 *   <li>A request naming resources instead ({@code XDS_ON_DEMAND}: an initial request with {@code "*"} both subscribed
 *       and unsubscribed, or a later request without a nonce) is answered only with the named resources the server
 *       holds, and not at all when it holds none; later pushes reach such a stream only with the names it
 *       subscribed to (and not at all when none of them changed).
 *   <li>Changes ({@link #setAddress}, {@link #remove}, {@link #push}) are pushed to every stream
 *       subscribed to the type, one response per push (see below for streams subscribed by name).
 *   <li>Requests with a nonce are recorded as ACKs or NACKs ({@link #acks()}, {@link #nacks()}).
 *   <li>{@link #stop()} and {@link #restart()} take the server down and up on the same port;
 *       {@link #closeStreams(Status)} ends every open stream with a status.
 * </ul>
 *
 * <h2>CA semantics</h2>
 *
 * Signs the CSR with the test root for the identity in the {@code ImpersonatedIdentity} metadata
 * (or the CSR's URI SAN) and answers {@code [leaf, root]}; {@link #caMode} switches to a wrong SAN,
 * a chain without root, or an error. Requests are recorded ({@link #caRequests()}).
 *
 * <p>Every call's request headers are recorded ({@link #callHeaders()}) for token and header
 * assertions.
 *
 * <p>Thread-safe: test threads and grpc threads may use it concurrently. Close it with {@link
 * #close()}.
 */
public final class FakeIstiod implements AutoCloseable {

    /** How the fake CA answers. */
    public enum CaMode {
        /** Sign for the requested identity and return leaf and root. */
        NORMAL,
        /** Sign for a different identity than requested. */
        WRONG_SAN,
        /** Return only the leaf. */
        NO_ROOT,
        /** Fail the call with PERMISSION_DENIED. */
        ERROR
    }

    /** One recorded CA request and the headers it came with. */
    public record CaRequest(IstioCertificateRequest request, Metadata headers) {}

    /** One recorded call: gRPC method and request headers. */
    public record CallRecord(String method, Metadata headers) {
        /** The {@code authorization} header, or null. */
        public @Nullable String authorization() {
            return headers.get(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER));
        }

        /** Any ASCII header, or null. */
        public @Nullable String header(String name) {
            return headers.get(Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER));
        }
    }

    /** One ACK or NACK received. */
    public record Reply(
            String typeUrl, String nonce, @Nullable String errorMessage) {
        public boolean isNack() {
            return errorMessage != null;
        }
    }

    /** The spiffe id the fake CA uses in {@link CaMode#WRONG_SAN}. */
    public static final String WRONG_IDENTITY = "spiffe://cluster.local/ns/wrong/sa/wrong";

    private static final Context.Key<Metadata> HEADERS = Context.key("fake-istiod-headers");

    private final boolean tls;
    private final TestCertificates certificates;
    private final TestCertificates.Issued serving;
    private final Object lock = new Object();
    private final AtomicLong versions = new AtomicLong();
    private final AtomicLong nonces = new AtomicLong();

    // Guarded by lock.
    private final Map<String, Map<String, Resource>> resources = new HashMap<>();
    private final List<AdsStream> streams = new ArrayList<>();
    private @Nullable Server server;
    private int port;
    private CaMode caMode = CaMode.NORMAL;
    private Duration caBackdate = TestCertificates.BACKDATE;

    private final List<DeltaDiscoveryRequest> requests = new CopyOnWriteArrayList<>();
    private final List<Reply> replies = new CopyOnWriteArrayList<>();
    private final List<DeltaDiscoveryResponse> sent = new CopyOnWriteArrayList<>();
    private final List<CallRecord> calls = new CopyOnWriteArrayList<>();
    private final List<CaRequest> caRequests = new CopyOnWriteArrayList<>();
    private final AtomicLong streamsOpened = new AtomicLong();

    private FakeIstiod(boolean tls, List<String> dnsNames, List<String> ips) {
        this.tls = tls;
        this.certificates = new TestCertificates("fake-istiod-root");
        this.serving = certificates.issueServer(dnsNames, ips);
    }

    /** A TLS server whose certificate names {@code localhost}, {@code istiod.istio-system.svc} and 127.0.0.1. */
    public static FakeIstiod startTls() throws IOException {
        return startTls(List.of("localhost", "istiod.istio-system.svc"), List.of("127.0.0.1"));
    }

    /** A TLS server whose certificate names exactly the given DNS names and IPs. */
    public static FakeIstiod startTls(List<String> dnsNames, List<String> ips) throws IOException {
        FakeIstiod fake = new FakeIstiod(true, dnsNames, ips);
        fake.bind(0);
        return fake;
    }

    /** A plaintext server. */
    public static FakeIstiod startPlaintext() throws IOException {
        FakeIstiod fake = new FakeIstiod(false, List.of("localhost"), List.of("127.0.0.1"));
        fake.bind(0);
        return fake;
    }

    // ----- server lifecycle ------------------------------------------------------------------------

    private void bind(int requestedPort) throws IOException {
        NettyServerBuilder builder = NettyServerBuilder.forAddress(
                        new InetSocketAddress(InetAddress.getLoopbackAddress(), requestedPort))
                .addService(ServerInterceptors.intercept(new AdsService(), new HeaderRecorder()))
                .addService(ServerInterceptors.intercept(new CaService(), new HeaderRecorder()));
        if (tls) {
            try {
                builder.sslContext(GrpcSslContexts.configure(
                                SslContextBuilder.forServer(serving.key(), serving.certificate(), certificates.root()),
                                SslProvider.JDK)
                        .build());
            } catch (SSLException e) {
                throw new IOException(e);
            }
        }
        IOException last = null;
        for (int attempt = 0; attempt < 50; attempt++) {
            Server candidate = builder.build();
            try {
                candidate.start();
                synchronized (lock) {
                    server = candidate;
                    port = ((InetSocketAddress) candidate.getListenSockets().getFirst()).getPort();
                }
                return;
            } catch (IOException e) {
                last = e;
                if (!(e.getCause() instanceof BindException) && !(e instanceof BindException)) {
                    throw e;
                }
                sleep(100);
            }
        }
        throw last;
    }

    /** Stops the server (ending every stream abruptly); resources are kept. */
    public void stop() {
        Server s;
        synchronized (lock) {
            s = server;
            server = null;
            streams.clear();
        }
        if (s != null) {
            s.shutdownNow();
            try {
                s.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Starts the server again on the same port, with the same resources and certificates. */
    public void restart() throws IOException {
        stop();
        bind(port);
    }

    /** Stops the server. */
    @Override
    public void close() {
        stop();
    }

    public int port() {
        synchronized (lock) {
            return port;
        }
    }

    /** {@code https://localhost:<port>} or {@code http://127.0.0.1:<port>}. */
    public String address() {
        return tls ? "https://localhost:" + port() : "http://127.0.0.1:" + port();
    }

    /** The root that signed the serving certificate (also the fake CA's mesh root), PEM. */
    public String rootPem() {
        return certificates.rootPem();
    }

    /** The root certificate (serving and mesh). */
    public X509Certificate root() {
        return certificates.root();
    }

    /** Writes {@link #rootPem()} to {@code file} and returns it. */
    public Path writeRoot(Path file) throws IOException {
        Files.writeString(file, rootPem());
        return file;
    }

    // ----- ADS state -------------------------------------------------------------------------------

    /** A batch of changes to one type, pushed as one response. */
    public static final class Push {
        private final String typeUrl;
        private final List<Resource> upserts = new ArrayList<>();
        private final List<String> removals = new ArrayList<>();
        private final long version;

        private Push(String typeUrl, long version) {
            this.typeUrl = typeUrl;
            this.version = version;
        }

        /** Adds or updates a resource with a well-formed body. */
        public Push upsert(String name, Message body) {
            return raw(
                    name,
                    Any.newBuilder()
                            .setTypeUrl(typeUrl)
                            .setValue(body.toByteString())
                            .build());
        }

        /** Adds a resource whose body bytes are not a valid message of the type. */
        public Push malformed(String name) {
            return raw(
                    name,
                    Any.newBuilder()
                            .setTypeUrl(typeUrl)
                            .setValue(ByteString.copyFrom(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff}))
                            .build());
        }

        /** Adds a resource with an arbitrary body. */
        public Push raw(String name, Any body) {
            upserts.add(Resource.newBuilder()
                    .setName(name)
                    .setVersion("v" + version)
                    .setResource(body)
                    .build());
            return this;
        }

        /** Removes a resource. */
        public Push remove(String name) {
            removals.add(name);
            return this;
        }
    }

    /** Adds or replaces a workload or service (named as xDS names it) and pushes it. */
    public void setAddress(Address address) {
        push(XdsResources.ADDRESS_TYPE_URL, p -> p.upsert(XdsResources.nameOf(address), address));
    }

    /** Adds or replaces a policy and pushes it. */
    public void setAuthorization(Authorization policy) {
        push(XdsResources.AUTHORIZATION_TYPE_URL, p -> p.upsert(XdsResources.nameOf(policy), policy));
    }

    /** Removes a resource and pushes the removal. */
    public void remove(String typeUrl, String name) {
        push(typeUrl, p -> p.remove(name));
    }

    /**
     * Applies a batch of changes to one type and pushes it to subscribed streams as one response.
     *
     * @return the nonce of the pushed response (one nonce for all streams), or null if it reached
     *     no stream
     */
    public @Nullable String push(String typeUrl, Consumer<Push> changes) {
        Push p = new Push(typeUrl, versions.incrementAndGet());
        changes.accept(p);
        // Sent under the lock so that a push can never overtake a stream's initial response.
        synchronized (lock) {
            Map<String, Resource> held = resources.computeIfAbsent(typeUrl, t -> new LinkedHashMap<>());
            p.upserts.forEach(r -> held.put(r.getName(), r));
            p.removals.forEach(held::remove);
            List<AdsStream> targets =
                    streams.stream().filter(s -> s.subscribed.contains(typeUrl)).toList();
            if (targets.isEmpty()) {
                return null;
            }
            String nonce = nextNonce();
            DeltaDiscoveryResponse response = DeltaDiscoveryResponse.newBuilder()
                    .setTypeUrl(typeUrl)
                    .setNonce(nonce)
                    .setSystemVersionInfo("v" + p.version)
                    .addAllResources(p.upserts)
                    .addAllRemovedResources(p.removals)
                    .build();
            boolean sent = false;
            for (AdsStream s : targets) {
                Set<String> named = s.named.get(typeUrl);
                if (named == null) {
                    s.send(response);
                    sent = true;
                    continue;
                }
                DeltaDiscoveryResponse.Builder only =
                        response.toBuilder().clearResources().clearRemovedResources();
                p.upserts.stream().filter(r -> named.contains(r.getName())).forEach(only::addResources);
                p.removals.stream().filter(named::contains).forEach(only::addRemovedResources);
                if (only.getResourcesCount() + only.getRemovedResourcesCount() > 0) {
                    s.send(only.build());
                    sent = true;
                }
            }
            return sent ? nonce : null;
        }
    }

    /** Sends a response of a type no client subscribed to, to every open stream; returns its nonce. */
    public String pushUnknownType(String typeUrl) {
        String nonce = nextNonce();
        DeltaDiscoveryResponse response = DeltaDiscoveryResponse.newBuilder()
                .setTypeUrl(typeUrl)
                .setNonce(nonce)
                .addResources(Resource.newBuilder()
                        .setName("mystery")
                        .setVersion("v1")
                        .setResource(Any.newBuilder().setTypeUrl(typeUrl).setValue(ByteString.copyFromUtf8("x"))))
                .build();
        synchronized (lock) {
            streams.forEach(s -> s.send(response));
        }
        return nonce;
    }

    /** Ends every open ADS stream with {@code status} (the client should reconnect). */
    public void closeStreams(Status status) {
        List<AdsStream> targets;
        synchronized (lock) {
            targets = List.copyOf(streams);
            streams.clear();
        }
        targets.forEach(s -> s.close(status));
    }

    /** The resource names the server holds for a type. */
    public Set<String> resourceNames(String typeUrl) {
        synchronized (lock) {
            return Set.copyOf(resources.getOrDefault(typeUrl, Map.of()).keySet());
        }
    }

    /** Every ADS request received, in order. */
    public List<DeltaDiscoveryRequest> requests() {
        return List.copyOf(requests);
    }

    /** ADS requests without a nonce (subscriptions, i.e. initial requests). */
    public List<DeltaDiscoveryRequest> initialRequests() {
        return requests.stream().filter(r -> r.getResponseNonce().isEmpty()).toList();
    }

    /** Every ACK and NACK received, in order. */
    public List<Reply> replies() {
        return List.copyOf(replies);
    }

    public List<Reply> acks() {
        return replies.stream().filter(r -> !r.isNack()).toList();
    }

    public List<Reply> nacks() {
        return replies.stream().filter(Reply::isNack).toList();
    }

    /** The reply to the response with {@code nonce}, or null if none arrived yet. */
    public @Nullable Reply replyTo(String nonce) {
        return replies.stream().filter(r -> r.nonce().equals(nonce)).findFirst().orElse(null);
    }

    /** Every ADS response sent, in order. */
    public List<DeltaDiscoveryResponse> sentResponses() {
        return List.copyOf(sent);
    }

    /** How many ADS streams were opened since start. */
    public long streamsOpened() {
        return streamsOpened.get();
    }

    /** How many ADS streams are open now. */
    public int openStreams() {
        synchronized (lock) {
            return streams.size();
        }
    }

    /** Request headers of every call (ADS and CA), in order. */
    public List<CallRecord> callHeaders() {
        return List.copyOf(calls);
    }

    /** Calls of one method, e.g. {@code "istio.v1.auth.IstioCertificateService/CreateCertificate"}. */
    public List<CallRecord> callHeaders(Predicate<String> method) {
        return calls.stream().filter(c -> method.test(c.method())).toList();
    }

    // ----- CA state --------------------------------------------------------------------------------

    /**
     * How far back issued workload certificates' validity starts ({@link TestCertificates#BACKDATE} by default). A
     * daemon renews at half the whole validity, so short-lived certificates need a short backdate to be renewed when
     * their requested lifetime is half over rather than at once.
     */
    public void caBackdate(Duration backdate) {
        synchronized (lock) {
            caBackdate = Objects.requireNonNull(backdate);
        }
    }

    public void caMode(CaMode mode) {
        synchronized (lock) {
            caMode = Objects.requireNonNull(mode);
        }
    }

    public List<CaRequest> caRequests() {
        return List.copyOf(caRequests);
    }

    // ----- services --------------------------------------------------------------------------------

    private String nextNonce() {
        return "nonce-" + nonces.incrementAndGet();
    }

    /** Records every call's headers and makes them visible to the service. */
    private final class HeaderRecorder implements ServerInterceptor {
        @Override
        public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
                ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
            calls.add(new CallRecord(call.getMethodDescriptor().getFullMethodName(), headers));
            return Contexts.interceptCall(Context.current().withValue(HEADERS, headers), call, headers, next);
        }
    }

    /** One client stream. */
    private final class AdsStream implements StreamObserver<DeltaDiscoveryRequest> {
        final StreamObserver<DeltaDiscoveryResponse> out;
        final Set<String> subscribed = ConcurrentHashMap.newKeySet();
        /** Type URL → the names subscribed to, for types not subscribed as a wildcard. */
        final Map<String, Set<String>> named = new ConcurrentHashMap<>();

        boolean done; // guarded by this

        AdsStream(StreamObserver<DeltaDiscoveryResponse> out) {
            this.out = out;
        }

        synchronized void send(DeltaDiscoveryResponse response) {
            if (done) {
                return;
            }
            sent.add(response);
            try {
                out.onNext(response);
            } catch (RuntimeException e) {
                done = true;
            }
        }

        synchronized void close(Status status) {
            if (done) {
                return;
            }
            done = true;
            try {
                if (status.isOk()) {
                    out.onCompleted();
                } else {
                    out.onError(status.asRuntimeException());
                }
            } catch (RuntimeException e) {
                // already cancelled
            }
        }

        @Override
        public void onNext(DeltaDiscoveryRequest request) {
            requests.add(request);
            String typeUrl = request.getTypeUrl();
            if (!request.getResponseNonce().isEmpty()) {
                replies.add(new Reply(
                        typeUrl,
                        request.getResponseNonce(),
                        request.hasErrorDetail() ? request.getErrorDetail().getMessage() : null));
                return;
            }
            // A subscription: answer with what the client lacks, and remove what it should not hold.
            synchronized (lock) {
                boolean first = subscribed.add(typeUrl);
                List<String> names = request.getResourceNamesSubscribeList();
                boolean wildcard = first
                        && (names.isEmpty() || names.contains("*"))
                        && !request.getResourceNamesUnsubscribeList().contains("*");
                if (!wildcard) {
                    // By name (on demand): answer with the named resources held; nothing when there are none.
                    Set<String> mine = named.computeIfAbsent(typeUrl, t -> ConcurrentHashMap.newKeySet());
                    names.stream().filter(n -> !n.equals("*")).forEach(mine::add);
                    Map<String, Resource> held = resources.getOrDefault(typeUrl, Map.of());
                    DeltaDiscoveryResponse.Builder b =
                            DeltaDiscoveryResponse.newBuilder().setTypeUrl(typeUrl);
                    names.stream().map(held::get).filter(Objects::nonNull).forEach(b::addResources);
                    if (b.getResourcesCount() > 0) {
                        send(b.setNonce(nextNonce()).build());
                    }
                    return;
                }
                Map<String, Resource> held = resources.getOrDefault(typeUrl, Map.of());
                Map<String, String> known = request.getInitialResourceVersionsMap();
                DeltaDiscoveryResponse.Builder b =
                        DeltaDiscoveryResponse.newBuilder().setTypeUrl(typeUrl).setNonce(nextNonce());
                for (Resource r : held.values()) {
                    if (!r.getVersion().equals(known.get(r.getName()))) {
                        b.addResources(r);
                    }
                }
                for (String name : known.keySet()) {
                    if (!held.containsKey(name)) {
                        b.addRemovedResources(name);
                    }
                }
                send(b.build());
            }
        }

        @Override
        public void onError(Throwable t) {
            forget();
        }

        @Override
        public void onCompleted() {
            forget();
            close(Status.OK);
        }

        private void forget() {
            synchronized (lock) {
                streams.remove(this);
            }
            synchronized (this) {
                done = true;
            }
        }
    }

    private final class AdsService extends AggregatedDiscoveryServiceGrpc.AggregatedDiscoveryServiceImplBase {
        @Override
        public StreamObserver<DeltaDiscoveryRequest> deltaAggregatedResources(
                StreamObserver<DeltaDiscoveryResponse> responseObserver) {
            AdsStream stream = new AdsStream(responseObserver);
            streamsOpened.incrementAndGet();
            synchronized (lock) {
                streams.add(stream);
            }
            return stream;
        }
    }

    private final class CaService extends IstioCertificateServiceGrpc.IstioCertificateServiceImplBase {
        @Override
        public void createCertificate(
                IstioCertificateRequest request, StreamObserver<IstioCertificateResponse> responseObserver) {
            Metadata headers = HEADERS.get();
            caRequests.add(new CaRequest(request, headers == null ? new Metadata() : headers));
            CaMode mode;
            Duration backdate;
            synchronized (lock) {
                mode = caMode;
                backdate = caBackdate;
            }
            if (mode == CaMode.ERROR) {
                responseObserver.onError(Status.PERMISSION_DENIED
                        .withDescription("fake CA told to refuse")
                        .asRuntimeException());
                return;
            }
            TestCertificates.ParsedCsr csr;
            try {
                csr = TestCertificates.parseCsr(request.getCsr());
            } catch (IllegalArgumentException e) {
                responseObserver.onError(
                        Status.INVALID_ARGUMENT.withDescription(ErrorText.of(e)).asRuntimeException());
                return;
            }
            Value impersonated = request.getMetadata().getFieldsMap().get("ImpersonatedIdentity");
            String identity = impersonated != null
                    ? impersonated.getStringValue()
                    : csr.uriSans().isEmpty() ? "" : csr.uriSans().getFirst();
            if (identity.isEmpty()) {
                responseObserver.onError(Status.INVALID_ARGUMENT
                        .withDescription("no identity in request")
                        .asRuntimeException());
                return;
            }
            if (mode == CaMode.WRONG_SAN) {
                identity = WRONG_IDENTITY;
            }
            long seconds = request.getValidityDuration() > 0 ? request.getValidityDuration() : 86_400;
            X509Certificate leaf =
                    certificates.issueWorkload(csr.publicKey(), identity, Duration.ofSeconds(seconds), backdate);
            IstioCertificateResponse.Builder response =
                    IstioCertificateResponse.newBuilder().addCertChain(TestCertificates.pem(leaf));
            if (mode != CaMode.NO_ROOT) {
                response.addCertChain(certificates.rootPem());
            }
            responseObserver.onNext(response.build());
            responseObserver.onCompleted();
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
