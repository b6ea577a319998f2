package io.ztunnel.xds.ads;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import io.grpc.Status;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.ztunnel.xds.XdsResources;
import io.ztunnel.xds.channel.AuthToken;
import io.ztunnel.xds.channel.ControlPlaneAddress;
import io.ztunnel.xds.channel.ControlPlaneEndpoint;
import io.ztunnel.xds.channel.RootCertificates;
import io.ztunnel.xds.proto.envoy.discovery.DeltaDiscoveryRequest;
import io.ztunnel.xds.proto.security.Action;
import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.security.Scope;
import io.ztunnel.xds.proto.workload.Address;
import io.ztunnel.xds.proto.workload.Service;
import io.ztunnel.xds.proto.workload.TunnelProtocol;
import io.ztunnel.xds.proto.workload.Workload;
import io.ztunnel.xds.testing.FakeIstiod;
import io.ztunnel.xds.testing.TestCertificates;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.MDC;

/** The Delta ADS client against {@link FakeIstiod} over real TLS on loopback. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DeltaAdsClientTest {
    static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    EventLoopGroup group;
    FakeIstiod istiod;
    final List<AutoCloseable> toClose = new ArrayList<>();

    /** Waits for the client's reply to a push that reached it. */
    private FakeIstiod.Reply awaitReply(@Nullable String nonce) {
        String pushed = Objects.requireNonNull(nonce, "the push reached no subscribed stream");
        return await().atMost(WAIT).until(() -> istiod.replyTo(pushed), Objects::nonNull);
    }

    /** A handler that keeps the state like the daemon would, and can be told to reject names. */
    static final class RecordingHandler implements XdsResourceHandler {
        final Map<String, Address> addresses = new ConcurrentHashMap<>();
        final Map<String, Authorization> policies = new ConcurrentHashMap<>();
        final List<String> calls = new CopyOnWriteArrayList<>();
        final List<String> threads = new CopyOnWriteArrayList<>();
        /** The connection attempt each call ran in ({@link DeltaAdsClient#LOG_CONNECTION_KEY}, upstream's xds{id}). */
        final List<String> attempts = new CopyOnWriteArrayList<>();

        volatile Predicate<String> reject = name -> false;
        volatile @Nullable RuntimeException failWith;

        @Override
        public List<ResourceError> applyAddresses(List<XdsResource<Address>> upserts, List<String> removals) {
            return apply("address", upserts, removals, addresses);
        }

        @Override
        public List<ResourceError> applyAuthorizations(
                List<XdsResource<Authorization>> upserts, List<String> removals) {
            return apply("policy", upserts, removals, policies);
        }

        private <T extends Message> List<ResourceError> apply(
                String kind, List<XdsResource<T>> upserts, List<String> removals, Map<String, T> state) {
            threads.add(Thread.currentThread().getName());
            attempts.add(String.valueOf(MDC.get(DeltaAdsClient.LOG_CONNECTION_KEY)));
            calls.add(kind + " upserts="
                    + upserts.stream().map(XdsResource::name).sorted().toList() + " removals=" + removals);
            RuntimeException failure = failWith;
            if (failure != null) {
                throw failure;
            }
            List<ResourceError> errors = new ArrayList<>();
            for (XdsResource<T> u : upserts) {
                if (reject.test(u.name())) {
                    errors.add(new ResourceError(u.name(), "rejected by test"));
                } else {
                    state.put(u.name(), u.resource());
                }
            }
            removals.forEach(state::remove);
            return errors;
        }
    }

    /** Records listener events. */
    static final class RecordingListener implements XdsClientListener {
        final List<TerminationReason> terminations = new CopyOnWriteArrayList<>();
        final Map<String, Long> messages = new ConcurrentHashMap<>();
        final Map<String, Long> bytes = new ConcurrentHashMap<>();
        final List<String> processed = new CopyOnWriteArrayList<>();

        @Override
        public void onResponseProcessed(String typeUrl, int upserts, int removals, int rejected) {
            processed.add(typeUrl + " " + upserts + "/" + removals + "/" + rejected);
        }

        @Override
        public void onConnectionTerminated(TerminationReason reason) {
            terminations.add(reason);
        }

        @Override
        public void onMessage(String typeUrl, long size) {
            messages.merge(typeUrl, 1L, Long::sum);
            bytes.merge(typeUrl, size, Long::sum);
        }
    }

    static Address workload(String uid, int lastOctet) {
        return Address.newBuilder()
                .setWorkload(Workload.newBuilder()
                        .setUid(uid)
                        .setName(uid)
                        .setNamespace("default")
                        .addAddresses(ByteString.copyFrom(new byte[] {10, 0, 0, (byte) lastOctet}))
                        .setTunnelProtocol(TunnelProtocol.HBONE))
                .build();
    }

    static Address service(String host) {
        return Address.newBuilder()
                .setService(Service.newBuilder()
                        .setName(host)
                        .setNamespace("default")
                        .setHostname(host))
                .build();
    }

    static Authorization policy(String name) {
        return Authorization.newBuilder()
                .setName(name)
                .setNamespace("default")
                .setScope(Scope.NAMESPACE)
                .setAction(Action.DENY)
                .build();
    }

    static final NodeIdentity NODE = new NodeIdentity(
            "10.1.2.3",
            "ztunnel-abc",
            "istio-system",
            "node-1",
            Map.of("CLUSTER_ID", "Kubernetes"),
            Map.of("LABELS", "{\"app\":\"ztunnel\"}"));

    @BeforeEach
    void setUp() throws Exception {
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        istiod = FakeIstiod.startTls();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        istiod.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    ControlPlaneEndpoint.Builder endpoint(Path rootFile, Path tokenFile) {
        return ControlPlaneEndpoint.builder(ControlPlaneAddress.parse(istiod.address()))
                .roots(RootCertificates.file(rootFile))
                .token(AuthToken.file(tokenFile))
                .clusterId("Kubernetes")
                .header("X-Extra", "yes")
                .eventLoop(group, NioSocketChannel.class);
    }

    DeltaAdsClient start(ControlPlaneEndpoint endpoint, XdsResourceHandler handler, XdsClientListener listener) {
        DeltaAdsClient client = DeltaAdsClient.builder(endpoint, NODE, handler)
                .listener(listener)
                .backoff(Duration.ofMillis(10), Duration.ofMillis(200))
                .build();
        toClose.add(client);
        client.start();
        return client;
    }

    Path tokenFile(String token) throws Exception {
        return Files.writeString(dir.resolve("token"), token + "\n");
    }

    DeltaAdsClient startDefault(RecordingHandler handler, RecordingListener listener) throws Exception {
        return start(
                endpoint(istiod.writeRoot(dir.resolve("root.pem")), tokenFile("token-1"))
                        .build(),
                handler,
                listener);
    }

    @Test
    void initialSyncDeliversEverythingAcksAndBecomesReady() throws Exception {
        istiod.setAddress(workload("w1", 1));
        istiod.setAddress(workload("w2", 2));
        istiod.setAddress(service("svc.default.svc.cluster.local"));
        istiod.setAuthorization(policy("deny-all"));
        RecordingHandler handler = new RecordingHandler();
        RecordingListener listener = new RecordingListener();

        DeltaAdsClient client = startDefault(handler, listener);
        client.ready().get(20, TimeUnit.SECONDS);

        assertThat(handler.addresses).containsOnlyKeys("w1", "w2", "default/svc.default.svc.cluster.local");
        assertThat(handler.addresses.get("w1")).isEqualTo(workload("w1", 1));
        assertThat(handler.policies).containsOnlyKeys("default/deny-all");
        assertThat(handler.threads).allMatch("xds-ads-client"::equals);

        // Two initial requests: wildcard, node attached, nothing held yet.
        List<DeltaDiscoveryRequest> initial = istiod.initialRequests();
        assertThat(initial)
                .extracting(DeltaDiscoveryRequest::getTypeUrl)
                .containsExactly(XdsResources.ADDRESS_TYPE_URL, XdsResources.AUTHORIZATION_TYPE_URL);
        for (DeltaDiscoveryRequest r : initial) {
            assertThat(r.getResourceNamesSubscribeList()).isEmpty();
            assertThat(r.getResourceNamesUnsubscribeList()).isEmpty();
            assertThat(r.getInitialResourceVersionsMap()).isEmpty();
            assertThat(r.getNode().getId())
                    .isEqualTo("ztunnel~10.1.2.3~ztunnel-abc.istio-system~istio-system.svc.cluster.local");
            assertThat(r.getNode().getMetadata().getFieldsOrThrow("NODE_NAME").getStringValue())
                    .isEqualTo("node-1");
            assertThat(r.getNode().getMetadata().getFieldsOrThrow("CLUSTER_ID").getStringValue())
                    .isEqualTo("Kubernetes");
        }

        // Both responses ACKed (no error detail), and ACKs carry no node.
        await().atMost(WAIT).until(() -> istiod.acks().size() == 2);
        assertThat(istiod.nacks()).isEmpty();
        assertThat(istiod.requests())
                .filteredOn(r -> !r.getResponseNonce().isEmpty())
                .allSatisfy(r -> {
                    assertThat(r.hasNode()).isFalse();
                    assertThat(r.hasErrorDetail()).isFalse();
                });

        // Metadata on the call.
        FakeIstiod.CallRecord call =
                istiod.callHeaders(m -> m.contains("DeltaAggregatedResources")).getFirst();
        assertThat(call.authorization()).isEqualTo("Bearer token-1");
        assertThat(call.header("clusterid")).isEqualTo("Kubernetes");
        assertThat(call.header("x-extra")).isEqualTo("yes");

        assertThat(listener.messages)
                .containsEntry(XdsResources.ADDRESS_TYPE_URL, 1L)
                .containsEntry(XdsResources.AUTHORIZATION_TYPE_URL, 1L);
        assertThat(listener.bytes.get(XdsResources.ADDRESS_TYPE_URL)).isEqualTo((long) istiod.sentResponses().stream()
                .filter(r -> r.getTypeUrl().equals(XdsResources.ADDRESS_TYPE_URL))
                .mapToInt(r -> r.getSerializedSize())
                .sum());
        assertThat(client.heldVersions().get(XdsResources.ADDRESS_TYPE_URL)).hasSize(3);
    }

    @Test
    void becomesReadyWithEmptyInitialResponses() throws Exception {
        DeltaAdsClient client = startDefault(new RecordingHandler(), new RecordingListener());
        client.ready().get(20, TimeUnit.SECONDS);
        // ready() completes as the ACKs are sent; they reach istiod right after.
        await().atMost(WAIT).until(() -> istiod.acks().size() == 2);
        assertThat(istiod.nacks()).isEmpty();
    }

    @Test
    void appliesIncrementalAddUpdateAndRemove() throws Exception {
        istiod.setAddress(workload("w1", 1));
        RecordingHandler handler = new RecordingHandler();
        DeltaAdsClient client = startDefault(handler, new RecordingListener());
        client.ready().get(20, TimeUnit.SECONDS);

        istiod.setAddress(workload("w2", 2));
        await().atMost(WAIT).until(() -> handler.addresses.containsKey("w2"));

        Address updated = workload("w1", 9);
        String nonce = istiod.push(XdsResources.ADDRESS_TYPE_URL, p -> p.upsert("w1", updated));
        await().atMost(WAIT).until(() -> updated.equals(handler.addresses.get("w1")));
        assertThat(awaitReply(nonce).isNack()).isFalse();

        istiod.remove(XdsResources.ADDRESS_TYPE_URL, "w2");
        await().atMost(WAIT).until(() -> !handler.addresses.containsKey("w2"));

        istiod.setAuthorization(policy("p1"));
        await().atMost(WAIT).until(() -> handler.policies.containsKey("default/p1"));
        istiod.remove(XdsResources.AUTHORIZATION_TYPE_URL, "default/p1");
        await().atMost(WAIT).until(() -> handler.policies.isEmpty());

        assertThat(client.heldVersions().get(XdsResources.ADDRESS_TYPE_URL)).containsOnlyKeys("w1");
        assertThat(istiod.nacks()).isEmpty();
    }

    @Test
    void nacksExactlyTheBadResourcesAndAppliesTheRest() throws Exception {
        RecordingHandler handler = new RecordingHandler();
        handler.reject = "refused"::equals;
        RecordingListener listener = new RecordingListener();
        DeltaAdsClient client = startDefault(handler, listener);
        client.ready().get(20, TimeUnit.SECONDS);

        String nonce = istiod.push(
                XdsResources.ADDRESS_TYPE_URL,
                p -> p.upsert("good-1", workload("good-1", 1))
                        .malformed("broken")
                        .upsert("refused", workload("refused", 3))
                        .upsert("good-2", workload("good-2", 2)));

        FakeIstiod.Reply reply = awaitReply(nonce);
        assertThat(reply.isNack()).isTrue();
        String message = reply.errorMessage();
        assertThat(message).isNotNull();
        assertThat(message).startsWith("broken: cannot decode: ").endsWith("; refused: rejected by test");
        assertThat(message.split("; ")).hasSize(2);
        assertThat(handler.addresses).containsOnlyKeys("good-1", "good-2");
        assertThat(handler.calls).anyMatch(c -> c.equals("address upserts=[good-1, good-2, refused] removals=[]"));
        assertThat(client.heldVersions().get(XdsResources.ADDRESS_TYPE_URL)).containsOnlyKeys("good-1", "good-2");
        assertThat(listener.processed).contains(XdsResources.ADDRESS_TYPE_URL + " 4/0/2");

        DeltaDiscoveryRequest nack = istiod.requests().stream()
                .filter(r -> r.getResponseNonce().equals(nonce))
                .findFirst()
                .orElseThrow();
        assertThat(nack.getErrorDetail().getCode()).isZero();
        assertThat(nack.getTypeUrl()).isEqualTo(XdsResources.ADDRESS_TYPE_URL);

        // A body of the wrong type and a resource without a body are rejected by name as well.
        String nonce2 = istiod.push(
                XdsResources.ADDRESS_TYPE_URL,
                p -> p.raw("wrong-type", Any.pack(policy("x"))).raw("empty", Any.getDefaultInstance()));
        assertThat(awaitReply(nonce2).errorMessage())
                .contains("wrong-type: resource type type.googleapis.com/istio.security.Authorization does not match")
                .contains("empty: resource type  does not match");
    }

    @Test
    void aFailingHandlerNacksEveryUpsert() throws Exception {
        RecordingHandler handler = new RecordingHandler();
        DeltaAdsClient client = startDefault(handler, new RecordingListener());
        client.ready().get(20, TimeUnit.SECONDS);
        handler.failWith = new IllegalStateException("boom");

        String nonce = istiod.push(
                XdsResources.AUTHORIZATION_TYPE_URL,
                p -> p.upsert("default/a", policy("a")).upsert("default/b", policy("b")));
        assertThat(awaitReply(nonce).errorMessage())
                .isEqualTo("default/a: internal error: boom; default/b: internal error: boom");
    }

    @Test
    void acksUnknownTypeUrls() throws Exception {
        RecordingHandler handler = new RecordingHandler();
        RecordingListener listener = new RecordingListener();
        DeltaAdsClient client = startDefault(handler, listener);
        client.ready().get(20, TimeUnit.SECONDS);

        String nonce = istiod.pushUnknownType("type.googleapis.com/example.Mystery");
        assertThat(awaitReply(nonce).isNack()).isFalse();
        assertThat(awaitReply(nonce).typeUrl()).isEqualTo("type.googleapis.com/example.Mystery");
        assertThat(listener.messages).containsEntry("type.googleapis.com/example.Mystery", 1L);
        assertThat(handler.calls).noneMatch(c -> c.contains("mystery"));
    }

    @Test
    void resubscribesAfterRestartWithInitialVersionsAndGetsOnlyTheDifference() throws Exception {
        istiod.setAddress(workload("keep", 1));
        istiod.setAddress(workload("change", 2));
        istiod.setAddress(workload("gone", 3));
        istiod.setAuthorization(policy("p"));
        RecordingHandler handler = new RecordingHandler();
        RecordingListener listener = new RecordingListener();
        DeltaAdsClient client = startDefault(handler, listener);
        client.ready().get(20, TimeUnit.SECONDS);
        // What the handler logs carries the connection attempt, as upstream's xds{id=N} span: the first one here.
        assertThat(handler.attempts).isNotEmpty().containsOnly("1");

        // A NACKed resource must not be listed on reconnect, so that istiod sends it again.
        String bad = istiod.push(XdsResources.ADDRESS_TYPE_URL, p -> p.malformed("bad"));
        awaitReply(bad);
        Map<String, String> heldBefore = client.heldVersions().get(XdsResources.ADDRESS_TYPE_URL);
        assertThat(heldBefore).containsOnlyKeys("keep", "change", "gone");

        istiod.stop();
        await().atMost(WAIT).until(() -> !listener.terminations.isEmpty());
        // While istiod is down: one resource changes, one disappears, the bad one gets fixed.
        istiod.push(
                XdsResources.ADDRESS_TYPE_URL,
                p -> p.upsert("change", workload("change", 20)).remove("gone").upsert("bad", workload("bad", 4)));
        int initialBefore = istiod.initialRequests().size();
        istiod.restart();

        await().atMost(WAIT).until(() -> istiod.initialRequests().size() >= initialBefore + 2);
        DeltaDiscoveryRequest resubscribe = istiod.initialRequests().stream()
                .skip(initialBefore)
                .filter(r -> r.getTypeUrl().equals(XdsResources.ADDRESS_TYPE_URL))
                .findFirst()
                .orElseThrow();
        assertThat(resubscribe.getInitialResourceVersionsMap()).isEqualTo(heldBefore);
        assertThat(resubscribe.hasNode()).isTrue();
        DeltaDiscoveryRequest policies = istiod.initialRequests().stream()
                .skip(initialBefore)
                .filter(r -> r.getTypeUrl().equals(XdsResources.AUTHORIZATION_TYPE_URL))
                .findFirst()
                .orElseThrow();
        assertThat(policies.getInitialResourceVersionsMap()).containsOnlyKeys("default/p");

        await().atMost(WAIT).until(() -> workload("change", 20).equals(handler.addresses.get("change")));
        await().atMost(WAIT).until(() -> !handler.addresses.containsKey("gone"));
        await().atMost(WAIT).until(() -> handler.addresses.containsKey("bad"));
        // "keep" was unchanged, so istiod did not resend it after the restart.
        assertThat(istiod.sentResponses().stream()
                        .filter(r -> r.getTypeUrl().equals(XdsResources.ADDRESS_TYPE_URL))
                        .toList()
                        .getLast()
                        .getResourcesList())
                .extracting(r -> r.getName())
                .containsExactlyInAnyOrder("change", "bad");
        assertThat(client.heldVersions().get(XdsResources.ADDRESS_TYPE_URL)).containsOnlyKeys("keep", "change", "bad");
        assertThat(Integer.parseInt(handler.attempts.getLast()))
                .as("a later attempt")
                .isGreaterThan(1);
    }

    @Test
    void picksUpARotatedTokenOnTheNextCall() throws Exception {
        RecordingListener listener = new RecordingListener();
        Path token = tokenFile("token-1");
        DeltaAdsClient client = start(
                endpoint(istiod.writeRoot(dir.resolve("root.pem")), token).build(), new RecordingHandler(), listener);
        client.ready().get(20, TimeUnit.SECONDS);
        assertThat(istiod.callHeaders().getFirst().authorization()).isEqualTo("Bearer token-1");

        Files.writeString(token, "token-2\n");
        long opened = istiod.streamsOpened();
        istiod.closeStreams(Status.UNAVAILABLE.withDescription("transport is closing"));

        await().atMost(WAIT).until(() -> istiod.streamsOpened() > opened);
        assertThat(istiod.callHeaders().getLast().authorization()).isEqualTo("Bearer token-2");
        await().atMost(WAIT).until(() -> listener.terminations.contains(TerminationReason.RECONNECT));
    }

    @Test
    void reportsACleanEndOfStreamAsCompleteAndReconnects() throws Exception {
        RecordingListener listener = new RecordingListener();
        DeltaAdsClient client = startDefault(new RecordingHandler(), listener);
        client.ready().get(20, TimeUnit.SECONDS);
        istiod.closeStreams(Status.OK);
        await().atMost(WAIT).until(() -> listener.terminations.contains(TerminationReason.COMPLETE));
        await().atMost(WAIT).until(() -> istiod.openStreams() == 1);

        istiod.closeStreams(Status.PERMISSION_DENIED.withDescription("nope"));
        await().atMost(WAIT).until(() -> listener.terminations.contains(TerminationReason.ERROR));
        await().atMost(WAIT).until(() -> istiod.openStreams() == 1);
    }

    @Test
    void picksUpAChangedRootCertificateFile() throws Exception {
        // Start with a root that did not sign istiod's certificate: TLS fails, nothing connects.
        Path root = Files.writeString(dir.resolve("root.pem"), new TestCertificates("unrelated").rootPem());
        RecordingListener listener = new RecordingListener();
        DeltaAdsClient client = start(endpoint(root, tokenFile("t")).build(), new RecordingHandler(), listener);
        await().atMost(WAIT).until(() -> listener.terminations.size() >= 2);
        assertThat(listener.terminations).containsOnly(TerminationReason.CONNECTION_ERROR);
        assertThat(istiod.streamsOpened()).isZero();
        assertThat(client.ready()).isNotDone();

        istiod.writeRoot(root);
        client.ready().get(20, TimeUnit.SECONDS);
    }

    @Test
    void checksTheHostNameAndFallsBackToTheAlternateName() throws Exception {
        istiod.close();
        istiod = FakeIstiod.startTls(List.of("istiod.istio-system.svc"), List.of());
        Path root = istiod.writeRoot(dir.resolve("root.pem"));
        ControlPlaneAddress byIp = ControlPlaneAddress.parse("127.0.0.1:" + istiod.port());

        RecordingListener rejected = new RecordingListener();
        DeltaAdsClient wrongName = start(
                ControlPlaneEndpoint.builder(byIp)
                        .roots(RootCertificates.file(root))
                        .eventLoop(group, NioSocketChannel.class)
                        .build(),
                new RecordingHandler(),
                rejected);
        await().atMost(WAIT).until(() -> !rejected.terminations.isEmpty());
        assertThat(rejected.terminations.getFirst()).isEqualTo(TerminationReason.CONNECTION_ERROR);
        assertThat(wrongName.ready()).isNotDone();
        wrongName.close();

        DeltaAdsClient withAlt = start(
                ControlPlaneEndpoint.builder(byIp)
                        .roots(RootCertificates.file(root))
                        .altHostname("istiod.istio-system.svc")
                        .eventLoop(group, NioSocketChannel.class)
                        .build(),
                new RecordingHandler(),
                new RecordingListener());
        withAlt.ready().get(20, TimeUnit.SECONDS);
    }

    @Test
    void worksOverPlaintextAndWithoutToken() throws Exception {
        istiod.close();
        istiod = FakeIstiod.startPlaintext();
        istiod.setAddress(workload("w", 1));
        RecordingHandler handler = new RecordingHandler();
        DeltaAdsClient client = start(
                ControlPlaneEndpoint.builder(ControlPlaneAddress.parse(istiod.address()))
                        .eventLoop(group, NioSocketChannel.class)
                        .build(),
                handler,
                new RecordingListener());
        client.ready().get(20, TimeUnit.SECONDS);
        assertThat(handler.addresses).containsOnlyKeys("w");
        assertThat(istiod.callHeaders().getFirst().authorization()).isNull();
        assertThat(istiod.callHeaders().getFirst().header("clusterid")).isNull();
    }

    @Test
    void anUnreadableTokenFailsTheCallAndIsRetried() throws Exception {
        RecordingListener listener = new RecordingListener();
        Path missing = dir.resolve("no-token");
        DeltaAdsClient client = start(
                endpoint(istiod.writeRoot(dir.resolve("root.pem")), missing).build(), new RecordingHandler(), listener);
        await().atMost(WAIT).until(() -> listener.terminations.size() >= 2);
        assertThat(listener.terminations).containsOnly(TerminationReason.CONNECTION_ERROR);
        Files.writeString(missing, "late-token");
        client.ready().get(20, TimeUnit.SECONDS);
        assertThat(istiod.callHeaders().getLast().authorization()).isEqualTo("Bearer late-token");
    }

    @Test
    void closeStopsEverything() throws Exception {
        RecordingHandler handler = new RecordingHandler();
        DeltaAdsClient client = startDefault(handler, new RecordingListener());
        client.ready().get(20, TimeUnit.SECONDS);
        client.close();
        client.close();
        await().atMost(WAIT).until(() -> istiod.openStreams() == 0);
        int calls = handler.calls.size();
        istiod.setAddress(workload("late", 1));
        // A closed client has no stream to receive the push on; were it still subscribed, the push would arrive in
        // milliseconds: checked throughout a window.
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(() -> handler.calls.size() == calls);
        assertThat(Thread.getAllStackTraces().keySet())
                .noneMatch(t -> t.getName().equals("xds-ads-client") && t.isAlive());
    }

    @Test
    void readyFailsWhenClosedFirst() throws Exception {
        Path root = Files.writeString(dir.resolve("root.pem"), new TestCertificates("unrelated").rootPem());
        DeltaAdsClient client =
                start(endpoint(root, tokenFile("t")).build(), new RecordingHandler(), new RecordingListener());
        client.close();
        try {
            client.ready().get(5, TimeUnit.SECONDS);
            throw new AssertionError("expected failure");
        } catch (ExecutionException e) {
            assertThat(e.getCause()).hasMessageContaining("closed before it was ready");
        }
    }

    @Test
    void classifiesTerminationsLikeUpstream() {
        assertThat(DeltaAdsClient.classify(Status.OK, true)).isEqualTo(TerminationReason.COMPLETE);
        assertThat(DeltaAdsClient.classify(Status.UNAVAILABLE.withDescription("io exception"), false))
                .isEqualTo(TerminationReason.CONNECTION_ERROR);
        assertThat(DeltaAdsClient.classify(Status.UNAUTHENTICATED, false))
                .isEqualTo(TerminationReason.CONNECTION_ERROR);
        assertThat(DeltaAdsClient.classify(Status.UNKNOWN, true)).isEqualTo(TerminationReason.RECONNECT);
        assertThat(DeltaAdsClient.classify(Status.CANCELLED, true)).isEqualTo(TerminationReason.RECONNECT);
        assertThat(DeltaAdsClient.classify(Status.DEADLINE_EXCEEDED, true)).isEqualTo(TerminationReason.RECONNECT);
        assertThat(DeltaAdsClient.classify(Status.UNAVAILABLE.withDescription("transport is closing"), true))
                .isEqualTo(TerminationReason.RECONNECT);
        assertThat(DeltaAdsClient.classify(
                        Status.UNAVAILABLE.withDescription("received prior goaway: code: NO_ERROR"), true))
                .isEqualTo(TerminationReason.RECONNECT);
        assertThat(DeltaAdsClient.classify(
                        Status.UNAVAILABLE.withDescription(
                                "Connection closed after GOAWAY. HTTP/2 error code: NO_ERROR"),
                        true))
                .isEqualTo(TerminationReason.RECONNECT);
        assertThat(DeltaAdsClient.classify(
                        Status.UNAVAILABLE.withDescription("Network closed for unknown reason"), true))
                .isEqualTo(TerminationReason.ERROR);
        assertThat(DeltaAdsClient.classify(Status.INTERNAL, true)).isEqualTo(TerminationReason.ERROR);
    }

    @Test
    void joinsErrorsAsUpstreamFormatsThem() {
        assertThat(DeltaAdsClient.joinErrors(List.of(new ResourceError("a", "x"), new ResourceError("b", "y z"))))
                .isEqualTo("a: x; b: y z");
    }
}
