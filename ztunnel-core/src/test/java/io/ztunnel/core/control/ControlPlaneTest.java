package io.ztunnel.core.control;

import static io.ztunnel.core.control.XdsProtos.address;
import static io.ztunnel.core.control.XdsProtos.member;
import static io.ztunnel.core.control.XdsProtos.service;
import static io.ztunnel.core.control.XdsProtos.uid;
import static io.ztunnel.core.control.XdsProtos.workload;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import io.grpc.Status;
import io.netty.channel.EventLoopGroup;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.Env;
import io.ztunnel.core.identity.CertificateAuthority;
import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.TlsSettings;
import io.ztunnel.core.net.Transport;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.core.util.Scheduler;
import io.ztunnel.metrics.ExpositionFormat;
import io.ztunnel.metrics.ZtunnelMetrics;
import io.ztunnel.xds.XdsResources;
import io.ztunnel.xds.proto.envoy.discovery.DeltaDiscoveryRequest;
import io.ztunnel.xds.proto.security.Action;
import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.workload.TunnelProtocol;
import io.ztunnel.xds.proto.workload.Workload;
import io.ztunnel.xds.testing.FakeIstiod;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.assertj.core.api.InstanceOfAssertFactories;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link ControlPlane} against the fake istiod over TLS, configured from environment variables exactly as the daemon
 * is: sync into the {@link StateStore}, incremental pushes, per-resource NACKs, reconnects, readiness, metrics, the
 * node identity and call headers, and certificate prefetch through the istiod CA.
 */
@Timeout(60)
class ControlPlaneTest {
    private static final String ADDRESS = XdsResources.ADDRESS_TYPE_URL;
    private static final String AUTHORIZATION = XdsResources.AUTHORIZATION_TYPE_URL;
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private FakeIstiod istiod;
    private Path tokenFile;
    private final Transport transport = Transport.best();
    private EventLoopGroup control;
    private final StateStore store = new StateStore();
    private ZtunnelMetrics metrics;
    private @Nullable CertificateAuthority ca;
    private @Nullable CertificateManager certificates;
    private @Nullable ControlPlane controlPlane;

    @BeforeEach
    void setUp() throws Exception {
        istiod = FakeIstiod.startTls();
        tokenFile = dir.resolve("istio-token");
        Files.writeString(tokenFile, "token-1\n");
        control = transport.newGroup(1, "control-test");
        metrics = ZtunnelMetrics.builder().jvmMetrics(false).build();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (controlPlane != null) {
            controlPlane.close();
        }
        if (certificates != null) {
            certificates.close();
        }
        if (ca instanceof AutoCloseable closeable) {
            closeable.close();
        }
        metrics.close();
        Transport.shutdown(control);
        istiod.close();
    }

    private Config config(Map<String, String> extra) throws Exception {
        Map<String, String> env = new HashMap<>();
        env.put("XDS_ADDRESS", istiod.address());
        env.put("CA_ADDRESS", istiod.address());
        Path root = istiod.writeRoot(dir.resolve("root-cert.pem"));
        env.put("XDS_ROOT_CA", root.toString());
        env.put("CA_ROOT_CA", root.toString());
        env.put("AUTH_TOKEN", tokenFile.toString());
        env.put("CLUSTER_ID", "cluster-1");
        env.put("NODE_NAME", "node-1");
        env.put("POD_NAME", "ztunnel-abc");
        env.put("POD_NAMESPACE", "istio-system");
        env.put("INSTANCE_IP", "10.0.0.100");
        env.put("ISTIO_META_DNS_CAPTURE", "true");
        env.put("ISTIO_METAJSON_LABELS", "{\"app\": \"ztunnel\"}");
        env.put("XDS_HEADER_X_XDS_TEST", "xds-header");
        env.putAll(extra);
        return Config.from(new Env(env));
    }

    private ControlPlane start() throws Exception {
        return start(Map.of());
    }

    private ControlPlane start(Map<String, String> extra) throws Exception {
        Config config = config(extra);
        ca = ControlPlane.certificateAuthority(config, control, transport);
        certificates = new CertificateManager(
                ca,
                config.secretTtl(),
                TlsSettings.DEFAULT,
                Scheduler.of(control.next(), Clock.systemUTC()),
                CertificateManager.DEFAULT_MAX_IN_FLIGHT);
        controlPlane = ControlPlane.start(config, control, transport, store, certificates, metrics.xds());
        return controlPlane;
    }

    /** The control plane {@link #start} started; fails the test when it was not started. */
    private ControlPlane controlPlane() {
        return Objects.requireNonNull(controlPlane, "start() was not called");
    }

    /** The certificate manager {@link #start} made; fails the test when it was not started. */
    private CertificateManager certificates() {
        return Objects.requireNonNull(certificates, "start() was not called");
    }

    private void awaitReady() throws Exception {
        controlPlane().ready().get(WAIT.toSeconds(), TimeUnit.SECONDS);
    }

    private FakeIstiod.Reply awaitReply(@Nullable String nonce) {
        assertThat(nonce).as("a stream was subscribed").isNotNull();
        return await().atMost(WAIT).until(() -> istiod.replyTo(nonce), r -> r != null);
    }

    private static NetworkAddress at(String ip) throws Exception {
        return new NetworkAddress("", InetAddress.getByName(ip));
    }

    private String scrape() {
        return metrics.scrape(ExpositionFormat.PROMETHEUS_TEXT);
    }

    @Test
    void theInitialSyncReachesTheStateStore() throws Exception {
        String key = "server/echo.server.svc.cluster.local";
        istiod.setAddress(address(member(workload("server", "a", "10.0.1.1"), key, 80, 8080)));
        istiod.setAddress(address(member(workload("server", "b", "10.0.1.2"), key, 80, 8080)));
        istiod.setAddress(service("server", "echo", "10.96.0.10", 80, 8080));
        istiod.setAuthorization(XdsProtos.principalPolicy("server", "deny-x", Action.DENY, "cluster.local/ns/x/sa/x"));

        start();
        awaitReady();

        ProxyState state = store.current();
        assertThat(state.workloadByAddress(at("10.0.1.1")))
                .extracting(w -> w.uid())
                .isEqualTo(uid("server", "a"));
        assertThat(state.workloadByAddress(at("10.0.1.2")))
                .extracting(w -> w.uid())
                .isEqualTo(uid("server", "b"));
        assertThat(state.servicesByVip(at("10.96.0.10")))
                .singleElement()
                .satisfies(s -> assertThat(state.endpoints(s)).hasSize(2));
        assertThat(state.policy("server/deny-x")).isNotNull();
        assertThat(istiod.nacks()).isEmpty();
        await().atMost(WAIT)
                .untilAsserted(() -> assertThat(istiod.acks())
                        .extracting(FakeIstiod.Reply::typeUrl)
                        .contains(ADDRESS, AUTHORIZATION));
        assertThat(scrape())
                .contains(
                        "istio_xds_message_total{url=\"" + ADDRESS + "\"} 1",
                        "istio_xds_message_total{url=\"" + AUTHORIZATION + "\"} 1");
    }

    @Test
    void tellsIstiodWhoItIsAndAuthenticatesEveryCall() throws Exception {
        start();
        awaitReady();

        List<DeltaDiscoveryRequest> initial = istiod.initialRequests();
        assertThat(initial)
                .extracting(DeltaDiscoveryRequest::getTypeUrl)
                .containsExactlyInAnyOrder(ADDRESS, AUTHORIZATION);
        assertThat(initial).allSatisfy(r -> {
            assertThat(r.getNode().getId())
                    .isEqualTo("ztunnel~10.0.0.100~ztunnel-abc.istio-system~istio-system.svc.cluster.local");
            Struct metadata = r.getNode().getMetadata();
            assertThat(metadata.getFieldsOrThrow("NAME").getStringValue()).isEqualTo("ztunnel-abc");
            assertThat(metadata.getFieldsOrThrow("NAMESPACE").getStringValue()).isEqualTo("istio-system");
            assertThat(metadata.getFieldsOrThrow("INSTANCE_IPS").getStringValue())
                    .isEqualTo("10.0.0.100");
            assertThat(metadata.getFieldsOrThrow("NODE_NAME").getStringValue()).isEqualTo("node-1");
            assertThat(metadata.getFieldsOrThrow("CLUSTER_ID").getStringValue()).isEqualTo("cluster-1");
            assertThat(metadata.getFieldsOrThrow("DNS_CAPTURE").getStringValue())
                    .isEqualTo("true");
            assertThat(metadata.getFieldsOrThrow("LABELS")
                            .getStructValue()
                            .getFieldsOrThrow("app")
                            .getStringValue())
                    .isEqualTo("ztunnel");
            assertThat(r.getResourceNamesSubscribeList()).isEmpty();
        });
        FakeIstiod.CallRecord call =
                istiod.callHeaders(m -> m.endsWith("DeltaAggregatedResources")).getFirst();
        assertThat(call.authorization()).isEqualTo("Bearer token-1");
        assertThat(call.header("clusterid")).isEqualTo("cluster-1");
        assertThat(call.header("x_xds_test")).isEqualTo("xds-header");
        assertThat(controlPlane().describe()).isEqualTo("xDS " + istiod.address());
    }

    @Test
    void aRotatedTokenFileIsUsedOnTheNextCall() throws Exception {
        start();
        awaitReady();
        long streams = istiod.streamsOpened();

        Files.writeString(tokenFile, "token-2\n");
        istiod.closeStreams(Status.UNAVAILABLE.withDescription("test: reconnect"));

        await().atMost(WAIT).until(() -> istiod.streamsOpened() > streams);
        assertThat(istiod.callHeaders(m -> m.endsWith("DeltaAggregatedResources"))
                        .getLast()
                        .authorization())
                .isEqualTo("Bearer token-2");
    }

    @Test
    void appliesIncrementalAddsUpdatesAndRemovals() throws Exception {
        start();
        awaitReady();

        istiod.setAddress(address(workload("ns", "a", "10.0.1.1")));
        await().atMost(WAIT).until(() -> store.current().workloadByAddress(at("10.0.1.1")) != null);

        istiod.setAddress(address(member(workload("ns", "a", "10.0.1.2"), "ns/svc.ns.svc.cluster.local", 80, 8080)));
        await().atMost(WAIT).until(() -> store.current().workloadByAddress(at("10.0.1.2")) != null);
        assertThat(store.current().workloadByAddress(at("10.0.1.1"))).isNull();

        istiod.setAddress(service("ns", "svc", "10.96.0.1", 80, 8080));
        await().atMost(WAIT)
                .until(() -> !store.current().servicesByVip(at("10.96.0.1")).isEmpty());
        assertThat(store.current()
                        .endpoints(Objects.requireNonNull(store.current().service("ns/svc.ns.svc.cluster.local"))))
                .hasSize(1);

        istiod.setAuthorization(XdsProtos.principalPolicy("ns", "p", Action.ALLOW, "cluster.local/ns/x/sa/x"));
        await().atMost(WAIT).until(() -> store.current().policy("ns/p") != null);

        istiod.remove(ADDRESS, uid("ns", "a"));
        await().atMost(WAIT).until(() -> store.current().workload(uid("ns", "a")) == null);
        assertThat(store.current().service("ns/svc.ns.svc.cluster.local")).isNotNull();

        istiod.remove(ADDRESS, "ns/svc.ns.svc.cluster.local");
        istiod.remove(AUTHORIZATION, "ns/p");
        await().atMost(WAIT)
                .until(() -> store.current().services().isEmpty()
                        && store.current().policies().isEmpty());
        assertThat(istiod.nacks()).isEmpty();
    }

    static Stream<Arguments> malformedAddresses() {
        return Stream.of(
                Arguments.of(
                        "a 5-byte address",
                        workload("ns", "bad", "10.0.9.9")
                                .clearAddresses()
                                .addAddresses(ByteString.copyFrom(new byte[5])),
                        "addresses[0]: 5 bytes is not an IP address (4 or 16)"),
                Arguments.of(
                        "an out-of-range enum",
                        workload("ns", "bad", "10.0.9.9").setTunnelProtocolValue(9),
                        "tunnel_protocol: unknown enum value"),
                Arguments.of(
                        "a LEGACY_ISTIO_MTLS workload",
                        workload("ns", "bad", "10.0.9.9").setTunnelProtocol(TunnelProtocol.LEGACY_ISTIO_MTLS),
                        "tunnel_protocol LEGACY_ISTIO_MTLS is not supported"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("malformedAddresses")
    void nacksExactlyTheMalformedResourceAndAppliesTheRest(String what, Workload.Builder bad, String reason)
            throws Exception {
        istiod.setAddress(address(workload("ns", "bad", "10.0.9.1")));
        start();
        awaitReady();

        String nonce = istiod.push(
                ADDRESS,
                p -> p.upsert(uid("ns", "good"), address(workload("ns", "good", "10.0.1.1")))
                        .upsert(uid("ns", "bad"), address(bad))
                        .upsert("ns/svc.ns.svc.cluster.local", service("ns", "svc", "10.96.0.1", 80, 8080)));

        FakeIstiod.Reply reply = awaitReply(nonce);
        assertThat(reply.isNack()).isTrue();
        assertThat(reply.errorMessage()).isEqualTo(uid("ns", "bad") + ": " + reason);
        ProxyState state = store.current();
        assertThat(state.workload(uid("ns", "good"))).isNotNull();
        assertThat(state.service("ns/svc.ns.svc.cluster.local")).isNotNull();
        assertThat(state.workload(uid("ns", "bad")))
                .as("the previous version stays")
                .extracting(w -> w.addresses(), InstanceOfAssertFactories.LIST)
                .containsExactly(InetAddress.getByName("10.0.9.1"));
        // Rejected resources are not held, so a reconnect asks for them again.
        assertThat(controlPlane().heldVersions().get(ADDRESS))
                .containsKeys(uid("ns", "good"), "ns/svc.ns.svc.cluster.local")
                .doesNotContainKey(uid("ns", "bad"));
    }

    @Test
    void nacksAMalformedPolicyAndAppliesTheRest() throws Exception {
        start();
        awaitReady();
        Authorization good = XdsProtos.principalPolicy("ns", "good", Action.DENY, "cluster.local/ns/x/sa/x");
        Authorization bad = good.toBuilder().setName("bad").setScopeValue(42).build();

        String nonce = istiod.push(AUTHORIZATION, p -> p.upsert("ns/good", good).upsert("ns/bad", bad));

        assertThat(awaitReply(nonce).errorMessage()).isEqualTo("ns/bad: scope: unknown enum value");
        assertThat(store.current().policy("ns/good")).isNotNull();
        assertThat(store.current().policy("ns/bad")).isNull();
    }

    @Test
    void becomesReadyOnlyOnceBothTypesWereAcked() throws Exception {
        istiod.setAddress(address(workload("ns", "bad", "10.0.9.9").setTunnelProtocolValue(9)));
        istiod.setAuthorization(XdsProtos.principalPolicy("ns", "p", Action.ALLOW, "cluster.local/ns/x/sa/x"));
        start();

        await().atMost(WAIT)
                .until(() -> !istiod.nacks().isEmpty() && !istiod.acks().isEmpty());
        assertThat(istiod.nacks())
                .singleElement()
                .satisfies(n -> assertThat(n.typeUrl()).isEqualTo(ADDRESS));
        assertThat(istiod.acks()).extracting(FakeIstiod.Reply::typeUrl).containsOnly(AUTHORIZATION);
        assertThat(store.current().policy("ns/p"))
                .as("the acked type is applied")
                .isNotNull();
        assertThat(controlPlane().ready()).isNotDone();

        istiod.setAddress(address(workload("ns", "bad", "10.0.9.9")));
        awaitReady();
        assertThat(store.current().workload(uid("ns", "bad"))).isNotNull();
    }

    @Test
    void isNotReadyWhileIstiodIsUnreachableAndSyncsWhenItComesUp() throws Exception {
        istiod.setAddress(address(workload("ns", "a", "10.0.1.1")));
        istiod.stop();
        start();

        await().atMost(WAIT)
                .until(() -> scrape().contains("istio_xds_connection_terminations_total{reason=\"ConnectionError\"}"));
        assertThat(controlPlane().ready()).isNotDone();

        istiod.restart();
        awaitReady();
        assertThat(store.current().workload(uid("ns", "a"))).isNotNull();
    }

    @Test
    void keepsTheStateWhileIstiodIsDownAndResubscribesWithWhatItHolds() throws Exception {
        for (String name : List.of("a", "b", "c")) {
            istiod.setAddress(address(workload("ns", name, "10.0.1." + (name.charAt(0) - 'a' + 1))));
        }
        istiod.setAddress(service("ns", "svc", "10.96.0.1", 80, 8080));
        istiod.setAuthorization(XdsProtos.principalPolicy("ns", "p", Action.ALLOW, "cluster.local/ns/x/sa/x"));
        start();
        awaitReady();
        Map<String, Map<String, String>> held = controlPlane().heldVersions();
        assertThat(held.get(ADDRESS)).hasSize(4);
        List<ProxyState> published = new CopyOnWriteArrayList<>();
        store.subscribe((previous, next) -> published.add(next));
        int initialRequests = istiod.initialRequests().size();

        istiod.stop();
        await().atMost(WAIT)
                .until(() -> scrape().contains("istio_xds_connection_terminations_total{reason=\"ConnectionError\"}"));
        assertThat(store.current().workloadByAddress(at("10.0.1.2")))
                .as("lookups still work")
                .extracting(w -> w.uid())
                .isEqualTo(uid("ns", "b"));
        assertThat(published).as("nothing is dropped while istiod is away").isEmpty();

        // While it was down, istiod lost workload c and gained d.
        istiod.remove(ADDRESS, uid("ns", "c"));
        istiod.setAddress(address(workload("ns", "d", "10.0.1.4")));
        istiod.restart();

        await().atMost(WAIT).until(() -> istiod.initialRequests().size() >= initialRequests + 2);
        List<DeltaDiscoveryRequest> resubscriptions = istiod.initialRequests()
                .subList(initialRequests, istiod.initialRequests().size());
        assertThat(resubscriptions)
                .filteredOn(r -> r.getTypeUrl().equals(ADDRESS))
                .first()
                .satisfies(r -> assertThat(r.getInitialResourceVersionsMap()).isEqualTo(held.get(ADDRESS)));
        assertThat(resubscriptions)
                .filteredOn(r -> r.getTypeUrl().equals(AUTHORIZATION))
                .first()
                .satisfies(r -> assertThat(r.getInitialResourceVersionsMap()).isEqualTo(held.get(AUTHORIZATION)));
        await().atMost(WAIT)
                .until(() -> store.current().workload(uid("ns", "d")) != null
                        && store.current().workload(uid("ns", "c")) == null);
        assertThat(published)
                .as("a and b, the service and the policy were never missing")
                .allSatisfy(s -> {
                    assertThat(s.workload(uid("ns", "a"))).isNotNull();
                    assertThat(s.workload(uid("ns", "b"))).isNotNull();
                    assertThat(s.service("ns/svc.ns.svc.cluster.local")).isNotNull();
                    assertThat(s.policy("ns/p")).isNotNull();
                });
        assertThat(istiod.nacks()).isEmpty();
    }

    @Test
    void prefetchesCertificatesOfLocalHboneWorkloadsAndForgetsTheLastOne() throws Exception {
        start();
        awaitReady();
        SpiffeId a = SpiffeId.parse("spiffe://cluster.local/ns/ns/sa/a");

        istiod.setAddress(address(workload("ns", "a", "10.0.1.1").setNode("node-1")));
        await().atMost(WAIT)
                .until(() -> certificates().status().stream()
                        .anyMatch(s -> s.identity().equals(a) && s.state() == CertificateManager.State.AVAILABLE));
        assertThat(istiod.caRequests())
                .singleElement()
                .satisfies(r -> assertThat(r.request()
                                .getMetadata()
                                .getFieldsOrThrow("ImpersonatedIdentity")
                                .getStringValue())
                        .isEqualTo(a.toString()));

        String nonce = istiod.push(
                ADDRESS,
                p -> p.upsert(
                                uid("ns", "a-2"),
                                address(workload("ns", "a-2", "10.0.1.2")
                                        .setServiceAccount("a")
                                        .setNode("node-1")))
                        .upsert(
                                uid("ns", "remote"),
                                address(workload("ns", "remote", "10.0.1.3").setNode("node-2")))
                        .upsert(
                                uid("ns", "tcp"),
                                address(workload("ns", "tcp", "10.0.1.4")
                                        .setNode("node-1")
                                        .setTunnelProtocol(TunnelProtocol.NONE))));
        assertThat(awaitReply(nonce).isNack()).isFalse();
        assertThat(controlPlane().source().localIdentities()).containsExactly(a);

        istiod.remove(ADDRESS, uid("ns", "a"));
        assertThat(awaitReply(istiod.push(ADDRESS, p -> p.remove(uid("ns", "remote"))))
                        .isNack())
                .isFalse();
        assertThat(certificates().status())
                .extracting(CertificateManager.Status::identity)
                .containsExactly(a);

        istiod.remove(ADDRESS, uid("ns", "a-2"));
        await().atMost(WAIT).until(() -> certificates().status().isEmpty());
        assertThat(istiod.caRequests())
                .as("no certificate for the remote or plain-TCP workloads")
                .hasSize(1);
    }

    @Test
    void dedicatedModeDoesNotPrefetch() throws Exception {
        start(Map.of("PROXY_MODE", "dedicated", "PROXY_WORKLOAD_INFO", "ns/a/a"));
        awaitReady();

        String nonce = istiod.push(
                ADDRESS,
                p -> p.upsert(
                        uid("ns", "a"), address(workload("ns", "a", "10.0.1.1").setNode("node-1"))));
        assertThat(awaitReply(nonce).isNack()).isFalse();
        assertThat(store.current().workload(uid("ns", "a"))).isNotNull();

        // Nothing to wait for: a prefetch would have been queued on the control loop when the push was applied (before
        // its ACK), so its request would show within this window; checked throughout it.
        await().during(Duration.ofMillis(500))
                .atMost(Duration.ofSeconds(2))
                .until(() ->
                        certificates().status().isEmpty() && istiod.caRequests().isEmpty());
    }

    @Test
    void refusesUnusableSettingsNamingTheVariable() throws Exception {
        Config badHeader = config(Map.of("XDS_HEADER_bad header", "x"));
        assertThatThrownBy(() -> ControlPlane.xdsEndpoint(badHeader, control, transport))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageStartingWith("XDS_HEADER_bad header: ");
        Config badAddress = config(Map.of("CA_ADDRESS", "ftp://istiod:15012"));
        assertThatThrownBy(() -> ControlPlane.caEndpoint(badAddress, control, transport))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageStartingWith("CA_ADDRESS=ftp://istiod:15012: ");
        assertThat(ControlPlane.authToken(ControlPlane.DEFAULT_AUTH_TOKEN).toString())
                .as("the default token path counts only when the file exists")
                .isEqualTo("AuthToken.none");
        assertThat(ControlPlane.authToken(tokenFile.toString()).toString()).startsWith("AuthToken.file(");
        assertThat(ControlPlane.authToken("literal-token").toString()).isEqualTo("AuthToken.literal(<redacted>)");
    }
}
