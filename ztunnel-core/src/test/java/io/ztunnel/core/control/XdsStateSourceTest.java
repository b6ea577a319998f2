package io.ztunnel.core.control;

import static io.ztunnel.core.control.XdsProtos.address;
import static io.ztunnel.core.control.XdsProtos.member;
import static io.ztunnel.core.control.XdsProtos.resource;
import static io.ztunnel.core.control.XdsProtos.service;
import static io.ztunnel.core.control.XdsProtos.uid;
import static io.ztunnel.core.control.XdsProtos.workload;
import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.xds.ads.ResourceError;
import io.ztunnel.xds.ads.XdsResource;
import io.ztunnel.xds.local.LocalConfigParser;
import io.ztunnel.xds.proto.security.Action;
import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.workload.Address;
import io.ztunnel.xds.proto.workload.TunnelProtocol;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link XdsStateSource} without a network: per-resource application, removal rules, snapshots, warm-up. */
class XdsStateSourceTest {
    private static final String NODE = "node-1";

    private final StateStore store = new StateStore();
    private final AtomicInteger replacements = new AtomicInteger();
    private final List<String> warmups = new ArrayList<>();
    private XdsStateSource source;

    @BeforeEach
    void setUp() {
        store.subscribe((previous, next) -> replacements.incrementAndGet());
        source = new XdsStateSource(store, NODE, new XdsStateSource.CertificateWarmer() {
            @Override
            public void prefetch(SpiffeId identity) {
                warmups.add("prefetch " + identity);
            }

            @Override
            public void forget(SpiffeId identity) {
                warmups.add("forget " + identity);
            }
        });
    }

    private List<ResourceError> addresses(List<Address> upserts, List<String> removals) {
        return source.applyAddresses(upserts.stream().map(XdsProtos::resource).toList(), removals);
    }

    private static NetworkAddress at(String ip) throws Exception {
        return new NetworkAddress("", InetAddress.getByName(ip));
    }

    @Test
    void aFailingStateListenerNeitherRejectsTheResponseNorLosesTheCertificatePrefetch() throws Exception {
        boolean[] failOnce = {true};
        store.subscribe((previous, next) -> {
            if (failOnce[0]) {
                failOnce[0] = false;
                throw new IllegalStateException("listener bug");
            }
        });
        List<ResourceError> errors =
                addresses(List.of(address(workload("ns", "a", "10.0.0.1").setNode(NODE))), List.of());
        assertThat(errors).as("the state is in force, so nothing may be NACKed").isEmpty();
        assertThat(store.current().workloadByAddress(at("10.0.0.1"))).isNotNull();
        assertThat(warmups).containsExactly("prefetch spiffe://cluster.local/ns/ns/sa/a");
    }

    @Test
    void aStaticConfigIsHeldUnderThePushedStateAndPushesReplaceOrRemoveItsResources() throws Exception {
        ProxyState staticState = LocalConfigSource.toState(LocalConfigParser.parseInline("""
                workloads:
                - {uid: "static-a", name: a, namespace: ns, workloadIps: ["10.0.9.1"], node: node-1, protocol: HBONE,
                   services: {}}
                - {uid: "static-b", name: b, namespace: ns, workloadIps: ["10.0.9.2"], services: {}}
                services:
                - {name: s, namespace: ns, hostname: s.ns.svc.cluster.local, vips: ["/10.96.9.1"], ports: {80: 8080}}
                policies:
                - {name: p, namespace: ns, scope: Namespace, action: Deny, dryRun: false, rules: []}
                """));
        source.seed(staticState);
        assertThat(store.current().workloadByAddress(at("10.0.9.1"))).isNotNull();
        assertThat(store.current().service("ns/s.ns.svc.cluster.local")).isNotNull();
        assertThat(store.current().policy("ns/p")).isNotNull();
        assertThat(warmups).containsExactly("prefetch spiffe://cluster.local/ns/ns/sa/default");

        // A push under the same name replaces the static resource; a removal removes it; the rest stays.
        addresses(List.of(address(workload("ns", "a", "10.0.9.11").setUid("static-a"))), List.of("static-b"));
        assertThat(store.current().workloadByAddress(at("10.0.9.11"))).isNotNull();
        assertThat(store.current().workloadByAddress(at("10.0.9.1"))).isNull();
        assertThat(store.current().workloadByAddress(at("10.0.9.2"))).isNull();
        assertThat(store.current().service("ns/s.ns.svc.cluster.local")).isNotNull();
        assertThat(store.current().policy("ns/p")).isNotNull();
    }

    @Test
    void appliesAResponseAndPublishesOneSnapshotForIt() throws Exception {
        String key = "server/echo.server.svc.cluster.local";
        List<ResourceError> errors = addresses(
                List.of(
                        address(member(workload("server", "a", "10.0.0.1"), key, 80, 8080)),
                        address(member(workload("server", "b", "10.0.0.2"), key, 80, 8080)),
                        service("server", "echo", "10.96.0.1", 80, 8080)),
                List.of());

        assertThat(errors).isEmpty();
        assertThat(replacements).hasValue(1);
        ProxyState state = store.current();
        assertThat(state.workloadByAddress(at("10.0.0.1")))
                .extracting(w -> w.uid())
                .isEqualTo(uid("server", "a"));
        assertThat(state.servicesByVip(at("10.96.0.1")))
                .singleElement()
                .satisfies(s -> assertThat(state.endpoints(s)).hasSize(2));
        assertThat(source.workloadCount()).isEqualTo(2);
        assertThat(source.serviceCount()).isEqualTo(1);
    }

    @Test
    void rejectsOnlyTheBadResourceAndKeepsItsPreviousVersion() throws Exception {
        addresses(List.of(address(workload("ns", "a", "10.0.0.1"))), List.of());

        Address broken = address(
                workload("ns", "a", "10.0.0.1").clearAddresses().addAddresses(ByteString.copyFrom(new byte[5])));
        List<ResourceError> errors = addresses(List.of(broken, address(workload("ns", "b", "10.0.0.2"))), List.of());

        assertThat(errors)
                .containsExactly(
                        new ResourceError(uid("ns", "a"), "addresses[0]: 5 bytes is not an IP address (4 or 16)"));
        ProxyState state = store.current();
        assertThat(Objects.requireNonNull(state.workload(uid("ns", "a"))).addresses())
                .containsExactly(InetAddress.getByName("10.0.0.1"));
        assertThat(state.workload(uid("ns", "b"))).isNotNull();
        assertThat(replacements).hasValue(2);
    }

    @Test
    void rejectsOutOfRangeEnumsLegacyMtlsAndEmptyAddresses() {
        Address badEnum = address(workload("ns", "enum", "10.0.0.3").setTunnelProtocolValue(7));
        Address legacy =
                address(workload("ns", "legacy", "10.0.0.4").setTunnelProtocol(TunnelProtocol.LEGACY_ISTIO_MTLS));
        XdsResource<Address> empty = resource("ns/nothing", Address.getDefaultInstance());

        List<ResourceError> errors =
                source.applyAddresses(List.of(resource(badEnum), resource(legacy), empty), List.of());

        assertThat(errors)
                .containsExactly(
                        new ResourceError(uid("ns", "enum"), "tunnel_protocol: unknown enum value"),
                        new ResourceError(uid("ns", "legacy"), "tunnel_protocol LEGACY_ISTIO_MTLS is not supported"),
                        new ResourceError("ns/nothing", "address has neither a workload nor a service"));
        assertThat(store.current().workloadCount()).isZero();
        assertThat(replacements).as("nothing applied, nothing published").hasValue(0);
    }

    @Test
    void removalTriesTheWorkloadThenTheServiceAndIgnoresUnknownNames() {
        addresses(
                List.of(address(workload("ns", "a", "10.0.0.1")), service("ns", "svc", "10.96.0.1", 80, 80)),
                List.of());

        assertThat(addresses(List.of(), List.of(uid("ns", "a"), "ns/svc.ns.svc.cluster.local")))
                .isEmpty();
        assertThat(store.current().workloadCount()).isZero();
        assertThat(store.current().services()).isEmpty();
        assertThat(replacements).hasValue(2);

        assertThat(addresses(List.of(), List.of("ns/unknown", uid("ns", "a")))).isEmpty();
        assertThat(replacements)
                .as("a removal of unknown names changes nothing")
                .hasValue(2);
    }

    @Test
    void anUpsertReplacesWhateverTheNameHeldBefore() {
        String name = "ns/shape-shifter";
        source.applyAddresses(List.of(resource(name, service("ns", "svc", "10.96.0.1", 80, 80))), List.of());
        assertThat(store.current().services()).hasSize(1);

        source.applyAddresses(List.of(resource(name, address(workload("ns", "a", "10.0.0.1")))), List.of());
        assertThat(store.current().services()).isEmpty();
        assertThat(store.current().workloadCount()).isEqualTo(1);

        source.applyAddresses(List.of(), List.of(name));
        assertThat(store.current().workloadCount()).isZero();
    }

    @Test
    void appliesAddsUpdatesAndRemovalsOfPolicies() {
        Authorization deny = XdsProtos.principalPolicy("ns", "deny", Action.DENY, "cluster.local/ns/x/sa/x");
        Authorization badAction =
                deny.toBuilder().setName("bad").setActionValue(9).build();
        List<ResourceError> errors =
                source.applyAuthorizations(List.of(resource(deny), resource(badAction)), List.of());

        assertThat(errors).containsExactly(new ResourceError("ns/bad", "action: unknown enum value"));
        assertThat(Objects.requireNonNull(store.current().policy("ns/deny"))
                        .action()
                        .name())
                .isEqualTo(Action.DENY.name());

        source.applyAuthorizations(
                List.of(resource(deny.toBuilder().setAction(Action.ALLOW).build())), List.of());
        assertThat(Objects.requireNonNull(store.current().policy("ns/deny"))
                        .action()
                        .name())
                .isEqualTo(Action.ALLOW.name());

        source.applyAuthorizations(List.of(), List.of("ns/deny"));
        assertThat(store.current().policies()).isEmpty();
        assertThat(source.policyCount()).isZero();
    }

    @Test
    void prefetchesLocalHboneIdentitiesAndForgetsTheLastOne() {
        String a = "spiffe://cluster.local/ns/ns/sa/a";
        addresses(List.of(address(workload("ns", "a", "10.0.0.1").setNode(NODE))), List.of());
        assertThat(warmups).containsExactly("prefetch " + a);

        // A second pod with the same service account, a remote pod, a local plain-TCP pod: no new prefetch.
        addresses(
                List.of(
                        address(workload("ns", "a-2", "10.0.0.2")
                                .setServiceAccount("a")
                                .setNode(NODE)),
                        address(workload("ns", "remote", "10.0.0.3").setNode("node-2")),
                        address(workload("ns", "tcp", "10.0.0.4")
                                .setNode(NODE)
                                .setTunnelProtocol(TunnelProtocol.NONE))),
                List.of());
        assertThat(warmups).containsExactly("prefetch " + a);

        // A native-tunnel workload speaks HBONE without the tunnel protocol.
        addresses(
                List.of(address(workload("ns", "native", "10.0.0.5")
                        .setNode(NODE)
                        .setTunnelProtocol(TunnelProtocol.NONE)
                        .setNativeTunnel(true))),
                List.of());
        assertThat(warmups).endsWith("prefetch spiffe://cluster.local/ns/ns/sa/native");

        addresses(List.of(), List.of(uid("ns", "a")));
        assertThat(warmups).hasSize(2);
        addresses(List.of(), List.of(uid("ns", "a-2")));
        assertThat(warmups).endsWith("forget " + a);

        // Moving to another node is losing the local workload too.
        addresses(
                List.of(address(workload("ns", "native", "10.0.0.5")
                        .setNode("node-2")
                        .setTunnelProtocol(TunnelProtocol.NONE)
                        .setNativeTunnel(true))),
                List.of());
        assertThat(warmups).endsWith("forget spiffe://cluster.local/ns/ns/sa/native");
        assertThat(source.localIdentities()).isEmpty();
    }

    @Test
    void replacingALocalWorkloadWithinOneResponseNeitherForgetsNorRefetches() {
        addresses(List.of(address(workload("ns", "a", "10.0.0.1").setNode(NODE))), List.of());
        warmups.clear();

        addresses(
                List.of(address(workload("ns", "a-new", "10.0.0.9")
                        .setServiceAccount("a")
                        .setNode(NODE))),
                List.of(uid("ns", "a")));

        assertThat(warmups).isEmpty();
        assertThat(source.localIdentities()).containsExactly(SpiffeId.parse("spiffe://cluster.local/ns/ns/sa/a"));
    }

    @Test
    void aChangedServiceAccountMovesTheWarmUpToTheNewIdentity() {
        addresses(List.of(address(workload("ns", "a", "10.0.0.1").setNode(NODE))), List.of());
        addresses(List.of(address(workload("ns", "a", "10.0.0.1").setNode(NODE).setServiceAccount("b"))), List.of());

        assertThat(warmups)
                .containsExactly(
                        "prefetch spiffe://cluster.local/ns/ns/sa/a",
                        "forget spiffe://cluster.local/ns/ns/sa/a",
                        "prefetch spiffe://cluster.local/ns/ns/sa/b");
    }

    @Test
    void withoutANodeNameNothingIsLocal() {
        XdsStateSource noNode = new XdsStateSource(new StateStore(), "", new XdsStateSource.CertificateWarmer() {
            @Override
            public void prefetch(SpiffeId identity) {
                warmups.add("prefetch " + identity);
            }

            @Override
            public void forget(SpiffeId identity) {
                warmups.add("forget " + identity);
            }
        });
        noNode.applyAddresses(List.of(resource(address(workload("ns", "a", "10.0.0.1")))), List.of());
        assertThat(warmups).isEmpty();
    }

    @Test
    void aLocalWorkloadWithoutAValidIdentityIsAppliedButNotWarmed() {
        List<ResourceError> errors = addresses(
                List.of(address(workload("", "no-namespace", "10.0.0.1").setNode(NODE))), List.of());
        assertThat(errors).isEmpty();
        assertThat(store.current().workloadCount()).isEqualTo(1);
        assertThat(warmups).isEmpty();
    }

    /** O(resources) per response: 10k workloads in one response, then many small responses, one build each. */
    @Test
    @Timeout(60)
    void handlesTenThousandWorkloadsWithOneSnapshotPerResponse() throws Exception {
        List<Address> initial = new ArrayList<>();
        for (int i = 0; i < 10_000; i++) {
            String key = "ns/svc-" + (i % 1000) + ".ns.svc.cluster.local";
            initial.add(address(member(
                    workload("ns", "pod-" + i, "10." + (i >> 16 & 255) + "." + (i >> 8 & 255) + "." + (i & 255)),
                    key,
                    80,
                    8080)));
        }
        for (int s = 0; s < 1000; s++) {
            initial.add(service("ns", "svc-" + s, "10.96." + (s >> 8) + "." + (s & 255), 80, 8080));
        }
        assertThat(addresses(initial, List.of())).isEmpty();
        assertThat(replacements).hasValue(1);
        assertThat(store.current().workloadCount()).isEqualTo(10_000);

        for (int i = 0; i < 200; i++) {
            addresses(
                    List.of(address(workload("ns", "pod-" + i, "11.0." + (i >> 8) + "." + (i & 255)))),
                    List.of(uid("ns", "pod-" + (9_999 - i))));
        }
        assertThat(replacements).hasValue(201);
        ProxyState state = store.current();
        assertThat(state.workloadCount()).isEqualTo(9_800);
        assertThat(state.workloadByAddress(at("11.0.0.5")))
                .extracting(w -> w.uid())
                .isEqualTo(uid("ns", "pod-5"));
        assertThat(state.workloadByAddress(at("10.0.0.5"))).isNull();
        assertThat(state.servicesByVip(at("10.96.0.7")))
                .singleElement()
                .satisfies(s -> assertThat(state.endpoints(s)).hasSize(9));
    }
}
