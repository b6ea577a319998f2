package io.ztunnel.xds.ads;

import static io.ztunnel.xds.ads.DeltaAdsClientTest.NODE;
import static io.ztunnel.xds.ads.DeltaAdsClientTest.policy;
import static io.ztunnel.xds.ads.DeltaAdsClientTest.workload;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

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
import io.ztunnel.xds.testing.FakeIstiod;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Delta ADS client with {@code XDS_ON_DEMAND}: the address type subscribes to nothing, readiness needs the
 * authorization type alone, and {@link DeltaAdsClient#demand} asks for one address by name, again on every new stream
 * until an address response names it.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class OnDemandAdsClientTest {
    private static final String ADDRESS = XdsResources.ADDRESS_TYPE_URL;
    private static final String AUTHORIZATION = XdsResources.AUTHORIZATION_TYPE_URL;
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private EventLoopGroup group;
    private FakeIstiod istiod;
    private @Nullable DeltaAdsClient client;
    private final DeltaAdsClientTest.RecordingHandler handler = new DeltaAdsClientTest.RecordingHandler();
    private final DeltaAdsClientTest.RecordingListener listener = new DeltaAdsClientTest.RecordingListener();

    @BeforeEach
    void setUp() throws Exception {
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        istiod = FakeIstiod.startTls();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (client != null) {
            client.close();
        }
        istiod.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    private DeltaAdsClient start(boolean onDemand) throws Exception {
        ControlPlaneEndpoint endpoint = ControlPlaneEndpoint.builder(ControlPlaneAddress.parse(istiod.address()))
                .roots(RootCertificates.file(istiod.writeRoot(dir.resolve("root.pem"))))
                .token(AuthToken.file(Files.writeString(dir.resolve("token"), "token\n")))
                .eventLoop(group, NioSocketChannel.class)
                .build();
        DeltaAdsClient started = DeltaAdsClient.builder(endpoint, NODE, handler)
                .listener(listener)
                .backoff(Duration.ofMillis(10), Duration.ofMillis(200))
                .onDemand(onDemand)
                .build();
        client = started;
        started.start();
        return started;
    }

    /** Requests without a node and without a nonce: the demands, in the order istiod received them. */
    private List<DeltaDiscoveryRequest> demands() {
        return istiod.requests().stream()
                .filter(r -> !r.hasNode() && r.getResponseNonce().isEmpty())
                .toList();
    }

    private List<String> demandedNames() {
        return demands().stream()
                .flatMap(r -> r.getResourceNamesSubscribeList().stream())
                .toList();
    }

    @Test
    void theAddressTypeSubscribesToNothingAndReadinessWaitsForAuthorizationsOnly() throws Exception {
        istiod.setAddress(workload("w1", 1));
        istiod.setAuthorization(policy("deny-all"));

        start(true).ready().get(WAIT.toSeconds(), TimeUnit.SECONDS);

        List<DeltaDiscoveryRequest> initial = istiod.initialRequests();
        DeltaDiscoveryRequest addresses = initial.stream()
                .filter(r -> r.getTypeUrl().equals(ADDRESS))
                .findFirst()
                .orElseThrow();
        assertThat(addresses.hasNode()).isTrue();
        assertThat(addresses.getResourceNamesSubscribeList()).containsExactly("*");
        assertThat(addresses.getResourceNamesUnsubscribeList()).containsExactly("*");
        DeltaDiscoveryRequest policies = initial.stream()
                .filter(r -> r.getTypeUrl().equals(AUTHORIZATION))
                .findFirst()
                .orElseThrow();
        assertThat(policies.hasNode()).isTrue();
        assertThat(policies.getResourceNamesSubscribeList()).isEmpty();
        assertThat(policies.getResourceNamesUnsubscribeList()).isEmpty();
        // Ready although istiod never answered the address subscription (it names nothing).
        assertThat(istiod.sentResponses()).extracting(r -> r.getTypeUrl()).containsExactly(AUTHORIZATION);
        assertThat(handler.policies).containsOnlyKeys("default/deny-all");
        assertThat(handler.addresses).isEmpty();
    }

    @Test
    void withoutOnDemandBothTypesAreWildcardAndNothingCanBeDemanded() throws Exception {
        istiod.setAddress(workload("w1", 1));
        DeltaAdsClient wildcard = start(false);
        wildcard.ready().get(WAIT.toSeconds(), TimeUnit.SECONDS);

        assertThat(istiod.initialRequests()).hasSize(2).allSatisfy(r -> {
            assertThat(r.getResourceNamesSubscribeList()).isEmpty();
            assertThat(r.getResourceNamesUnsubscribeList()).isEmpty();
        });
        assertThat(handler.addresses).containsOnlyKeys("w1");
        assertThatThrownBy(() -> wildcard.demand("/10.0.0.1")).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void aDemandNamesOneAddressAloneAndIsAnsweredLikeAPush() throws Exception {
        DeltaAdsClient onDemand = start(true);
        onDemand.ready().get(WAIT.toSeconds(), TimeUnit.SECONDS);

        onDemand.demand("/10.0.0.7");

        DeltaDiscoveryRequest demand =
                await().atMost(WAIT).until(() -> demands().stream().findFirst().orElse(null), Objects::nonNull);
        assertThat(demand)
                .isEqualTo(DeltaDiscoveryRequest.newBuilder()
                        .setTypeUrl(ADDRESS)
                        .addResourceNamesSubscribe("/10.0.0.7")
                        .build());
        // istiod answers under the demanded name; the client applies and ACKs it as any push.
        String nonce = Objects.requireNonNull(istiod.push(ADDRESS, p -> p.upsert("/10.0.0.7", workload("w7", 7))));
        FakeIstiod.Reply reply = await().atMost(WAIT).until(() -> istiod.replyTo(nonce), Objects::nonNull);
        assertThat(reply.isNack()).isFalse();
        assertThat(handler.addresses).containsOnlyKeys("/10.0.0.7");
        assertThat(demands()).hasSize(1);
    }

    @Test
    void unansweredDemandsAreSentAgainOnTheNextStreamAndAnsweredOnesAreNot() throws Exception {
        DeltaAdsClient onDemand = start(true);
        onDemand.ready().get(WAIT.toSeconds(), TimeUnit.SECONDS);
        onDemand.demand("/10.0.0.9");
        await().atMost(WAIT).until(() -> demandedNames().contains("/10.0.0.9"));
        // istiod has no such address: it answers with a removal, which ends the demand.
        String removal = istiod.push(ADDRESS, p -> p.remove("/10.0.0.9"));
        await().atMost(WAIT).until(() -> istiod.replyTo(Objects.requireNonNull(removal)) != null);
        onDemand.demand("/10.0.0.10"); // sent, never answered

        await().atMost(WAIT).until(() -> demandedNames().contains("/10.0.0.10"));
        istiod.stop();
        await().atMost(WAIT).until(() -> !listener.terminations.isEmpty());
        onDemand.demand("/10.0.0.8"); // made while no stream is open
        int requestsBefore = istiod.requests().size();
        istiod.restart();

        await().atMost(WAIT)
                .until(() -> istiod.requests().stream()
                                .skip(requestsBefore)
                                .filter(r ->
                                        !r.hasNode() && r.getResponseNonce().isEmpty())
                                .count()
                        >= 2);
        List<DeltaDiscoveryRequest> after =
                istiod.requests().stream().skip(requestsBefore).toList();
        int initialAddress = indexOf(after, r -> r.hasNode() && r.getTypeUrl().equals(ADDRESS));
        assertThat(initialAddress).as("the new stream's address subscription").isNotNegative();
        assertThat(after.get(initialAddress).getResourceNamesSubscribeList()).containsExactly("*");
        List<String> resent = after.stream()
                .skip(initialAddress + 1)
                .filter(r -> !r.hasNode() && r.getResponseNonce().isEmpty())
                .flatMap(r -> r.getResourceNamesSubscribeList().stream())
                .toList();
        assertThat(resent).containsExactlyInAnyOrder("/10.0.0.10", "/10.0.0.8");
        assertThat(demandedNames()).filteredOn("/10.0.0.9"::equals).hasSize(1);
    }

    private static int indexOf(List<DeltaDiscoveryRequest> requests, Predicate<DeltaDiscoveryRequest> p) {
        for (int i = 0; i < requests.size(); i++) {
            if (p.test(requests.get(i))) {
                return i;
            }
        }
        return -1;
    }
}
