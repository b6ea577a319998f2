package io.ztunnel.core.app;

import static io.ztunnel.core.control.XdsProtos.address;
import static io.ztunnel.core.control.XdsProtos.workload;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.control.XdsProtos;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.testing.TestApps;
import io.ztunnel.xds.XdsResources;
import io.ztunnel.xds.proto.envoy.discovery.DeltaDiscoveryRequest;
import io.ztunnel.xds.proto.workload.Address;
import io.ztunnel.xds.proto.workload.GatewayAddress;
import io.ztunnel.xds.proto.workload.Service;
import io.ztunnel.xds.testing.FakeIstiod;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * On-demand xDS ({@code XDS_ON_DEMAND=true}) end to end: two dedicated-mode daemons (client on 127.0.0.2 with
 * SOCKS5, server-a on 127.0.0.3) each know only their own workload (a static {@code LOCAL_XDS}); the fake istiod
 * answers the address subscription with nothing, so every other address must be demanded by name. The test plays
 * istiod: it waits for each demand and answers it (or not) under the demanded name.
 */
@Timeout(120)
class OnDemandXdsTest {
    private static final String ADDRESS = XdsResources.ADDRESS_TYPE_URL;
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private FakeIstiod istiod;
    private TestApps.Server app;
    private Daemon client;
    private Daemon server;
    private int socksPort;
    private boolean clientClosed;
    private final ListAppender<ILoggingEvent> logs = new ListAppender<>();

    @BeforeEach
    void setUp() throws Exception {
        logs.start();
        ((Logger) LoggerFactory.getLogger("access")).addAppender(logs);
        istiod = FakeIstiod.startTls();
        app = MeshFixture.banner("server-a", new InetSocketAddress("127.0.0.3", 8080));
        socksPort = MeshFixture.freePort();
        client = Daemon.start(config(
                "client/client/client",
                "127.0.0.2",
                local("client", "client", "127.0.0.2"),
                Map.of("UNSTABLE_ENABLE_SOCKS5", "true", "SOCKS5_PORT", String.valueOf(socksPort))));
        server = Daemon.start(
                config("server/server-a/server-a", "127.0.0.3", local("server", "server-a", "127.0.0.3"), Map.of()));
    }

    @AfterEach
    void tearDown() throws Exception {
        ((Logger) LoggerFactory.getLogger("access")).detachAppender(logs);
        if (client != null && !clientClosed) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
        if (app != null) {
            app.close();
        }
        istiod.close();
    }

    /** A workload of the static config: the daemon's own pod, known without asking istiod. */
    private static String local(String namespace, String name, String ip) {
        return """
                workloads:
                - uid: Kubernetes//Pod/%1$s/%2$s
                  name: %2$s
                  namespace: %1$s
                  serviceAccount: %2$s
                  trustDomain: cluster.local
                  workloadIps: ["%3$s"]
                  protocol: HBONE
                  services: {}
                """.formatted(namespace, name, ip);
    }

    private Config config(String workload, String ip, String localXds, Map<String, String> extra) throws Exception {
        Map<String, String> env = new HashMap<>();
        env.put("XDS_ON_DEMAND", "true");
        env.put("ISTIO_META_DNS_CAPTURE", "false");
        env.put("LOCAL_XDS", localXds);
        env.putAll(extra);
        return IstiodDaemons.config(istiod, dir, workload, ip, env);
    }

    private Socket connect(String ip, int port) throws Exception {
        Socket s = new Socket(new Proxy(Proxy.Type.SOCKS, new InetSocketAddress("127.0.0.2", socksPort)));
        s.setSoTimeout(30_000);
        s.connect(new InetSocketAddress(ip, port), 10_000);
        return s;
    }

    /** The first line the app sends, read in the background (null when the connection closes first). */
    private static CompletableFuture<String> bannerOf(Socket s) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return MeshFixture.banner(s);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** Demands istiod received: address requests without a node and without a nonce. */
    private List<DeltaDiscoveryRequest> demands() {
        return istiod.requests().stream()
                .filter(r -> r.getTypeUrl().equals(ADDRESS)
                        && !r.hasNode()
                        && r.getResponseNonce().isEmpty())
                .toList();
    }

    private List<DeltaDiscoveryRequest> demandsFor(String name) {
        return demands().stream()
                .filter(r -> r.getResourceNamesSubscribeList().contains(name))
                .toList();
    }

    private void awaitDemand(String name) {
        await().atMost(WAIT).until(() -> !demandsFor(name).isEmpty());
    }

    /**
     * Pushes an address under the demanded name (istiod sends it to the daemons that asked for that name) and waits
     * until they ACKed it.
     */
    private void answer(String name, Address address) {
        String nonce = istiod.push(ADDRESS, p -> p.upsert(name, address));
        assertThat(nonce).as("a daemon asked for " + name).isNotNull();
        await().atMost(WAIT)
                .until(() -> istiod.acks().stream()
                                .filter(r -> r.nonce().equals(nonce))
                                .count()
                        == istiod.sentResponses().stream()
                                .filter(r -> r.getNonce().equals(nonce))
                                .count());
    }

    private void awaitReady() {
        await().atMost(WAIT)
                .until(() -> client.readiness().isReady() && server.readiness().isReady());
    }

    private List<Map<String, String>> completed() {
        return LogEvents.withMessage(logs.list, "connection complete");
    }

    private static NetworkAddress at(String ip) throws Exception {
        return new NetworkAddress("", InetAddress.getByName(ip));
    }

    @Test
    void readinessNeedsOnlyAuthorizationsAndTheAddressTypeSubscribesToNothing() throws Exception {
        awaitReady();

        // The fake istiod never answers an address subscription that names nothing: both daemons are ready anyway.
        assertThat(istiod.sentResponses())
                .allSatisfy(r -> assertThat(r.getTypeUrl()).isEqualTo(XdsResources.AUTHORIZATION_TYPE_URL));
        List<DeltaDiscoveryRequest> initial = istiod.requests().stream()
                .filter(DeltaDiscoveryRequest::hasNode)
                .toList();
        assertThat(initial).hasSize(4);
        assertThat(initial)
                .filteredOn(r -> r.getTypeUrl().equals(ADDRESS))
                .hasSize(2)
                .allSatisfy(r -> {
                    assertThat(r.getResourceNamesSubscribeList()).containsExactly("*");
                    assertThat(r.getResourceNamesUnsubscribeList()).containsExactly("*");
                });
        assertThat(initial)
                .filteredOn(r -> r.getTypeUrl().equals(XdsResources.AUTHORIZATION_TYPE_URL))
                .hasSize(2)
                .allSatisfy(r -> {
                    assertThat(r.getResourceNamesSubscribeList()).isEmpty();
                    assertThat(r.getResourceNamesUnsubscribeList()).isEmpty();
                });
        // Each daemon found its own workload without asking (the local workload is never demanded).
        assertThat(client.state().current().workloadByAddress(at("127.0.0.2"))).isNotNull();
        assertThat(server.state().current().workloadByAddress(at("127.0.0.3"))).isNotNull();
        assertThat(demands()).isEmpty();
    }

    @Test
    void anUnknownDestinationAndAnUnknownSourceAreDemandedOnceAndTheConnectionProceedsWhenIstiodAnswers()
            throws Exception {
        awaitReady();
        assertThat(client.state().current().workloadByAddress(at("127.0.0.3"))).isNull();

        try (Socket s = connect("127.0.0.3", 8080)) {
            CompletableFuture<String> banner = bannerOf(s);

            // The client asks for the destination by network/IP, with nothing but the name.
            awaitDemand("/127.0.0.3");
            assertThat(demandsFor("/127.0.0.3"))
                    .singleElement()
                    .isEqualTo(DeltaDiscoveryRequest.newBuilder()
                            .setTypeUrl(ADDRESS)
                            .addResourceNamesSubscribe("/127.0.0.3")
                            .build());
            assertThat(banner).as("the connection waits for istiod's answer").isNotDone();

            answer("/127.0.0.3", address(workload("server", "server-a", "127.0.0.3")));

            // HBONE reaches the server, which does not know the IP the connection came from (on loopback the client
            // daemon dials from 127.0.0.1): it asks in turn, and istiod answers with the client's workload there.
            awaitDemand("/127.0.0.1");
            assertThat(banner).as("the server waits for istiod's answer").isNotDone();
            answer("/127.0.0.1", address(workload("client", "client", "127.0.0.1")));

            assertThat(banner.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("server-a");
            s.getOutputStream().write("ping".getBytes());
            assertThat(new String(s.getInputStream().readNBytes(4))).isEqualTo("ping");
        }
        await().atMost(WAIT)
                .untilAsserted(() -> assertThat(completed())
                        .filteredOn(l -> "inbound".equals(l.get("direction")))
                        .singleElement()
                        .satisfies(l -> assertThat(l)
                                .as("the source workload the server demanded")
                                .containsEntry("src.workload", "client")
                                .containsEntry("dst.workload", "server-a")));
        assertThat(demands())
                .extracting(r -> List.copyOf(r.getResourceNamesSubscribeList()))
                .containsExactlyInAnyOrder(List.of("/127.0.0.3"), List.of("/127.0.0.1"));

        // Known now: a second connection asks for nothing.
        try (Socket s = connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
        }
        assertThat(demands()).hasSize(2);
        assertThat(istiod.nacks()).isEmpty();
    }

    @Test
    void theWaypointCheckOfAnHboneConnectionDemandsTheAuthorityIp() throws Exception {
        awaitReady();
        // First a direct connection, so that the client knows server-a (the waypoint) and the server knows the client.
        try (Socket s = connect("127.0.0.3", 8080)) {
            CompletableFuture<String> banner = bannerOf(s);
            awaitDemand("/127.0.0.3");
            answer("/127.0.0.3", address(workload("server", "server-a", "127.0.0.3")));
            awaitDemand("/127.0.0.1");
            answer("/127.0.0.1", address(workload("client", "client", "127.0.0.1")));
            assertThat(banner.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("server-a");
        }
        // A service whose waypoint is server-a: the client sends its traffic to server-a with the VIP as authority.
        Service.Builder echo = XdsProtos.service("server", "echo", "127.10.0.1", 8080, 8080).getService().toBuilder()
                .setWaypoint(GatewayAddress.newBuilder()
                        .setAddress(io.ztunnel.xds.proto.workload.NetworkAddress.newBuilder()
                                .setAddress(XdsProtos.ip("127.0.0.3")))
                        .setHboneMtlsPort(15008));
        Address service = Address.newBuilder().setService(echo).build();

        try (Socket s = connect("127.10.0.1", 8080)) {
            CompletableFuture<String> banner = bannerOf(s);
            awaitDemand("/127.10.0.1");
            assertThat(banner).isNotDone();
            answer("/127.10.0.1", service); // to the client alone: it asked

            // The authority (the VIP) is not the IP the connection arrived on: the server must find out whether it is
            // the VIP's waypoint, and asks for the VIP (istiod answers at once with what it holds). Without that
            // answer the server would refuse the CONNECT (IP mismatch).
            assertThat(banner.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isEqualTo("server-a");
            assertThat(demandsFor("/127.10.0.1")).hasSize(2);
        }
        assertThat(server.state().current().servicesByVip(at("127.10.0.1"))).hasSize(1);
    }

    @Test
    void aDemandAnsweredWithARemovalLeavesTheDestinationUnknownAndTheConnectionFails() throws Exception {
        awaitReady();
        int port = MeshFixture.freePort(); // nothing listens on 127.0.0.4 at that port

        try (Socket s = connect("127.0.0.4", port)) {
            CompletableFuture<String> banner = bannerOf(s);
            awaitDemand("/127.0.0.4");
            assertThat(banner).isNotDone();

            String removal = istiod.push(ADDRESS, p -> p.remove("/127.0.0.4"));
            assertThat(removal).isNotNull();

            // Still unknown: routed as any unknown destination (passthrough), whose connect fails.
            assertThat(banner.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isNull();
        }
        assertFailedOutbound(port);
        assertThat(demandsFor("/127.0.0.4")).hasSize(1);
    }

    @Test
    void aDemandAnsweredWithAnotherAddressUnderTheNameLeavesTheDestinationUnknown() throws Exception {
        awaitReady();
        int port = MeshFixture.freePort();

        try (Socket s = connect("127.0.0.4", port)) {
            CompletableFuture<String> banner = bannerOf(s);
            awaitDemand("/127.0.0.4");
            assertThat(banner).isNotDone();

            // istiod answers under the demanded name, but the workload has another IP: the store still lacks it.
            answer("/127.0.0.4", address(workload("other", "other", "127.0.0.9")));

            assertThat(banner.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isNull();
        }
        assertFailedOutbound(port);
        assertThat(client.state().current().workloadByAddress(at("127.0.0.4"))).isNull();
    }

    private void assertFailedOutbound(int port) {
        await().atMost(WAIT)
                .untilAsserted(() -> assertThat(completed())
                        .filteredOn(l -> "outbound".equals(l.get("direction")))
                        .singleElement()
                        .satisfies(l -> {
                            assertThat(l).containsEntry("level", "ERROR");
                            assertThat(l.get("dst.addr")).isEqualTo("127.0.0.4:" + port);
                            assertThat(l.get("error")).startsWith("connect to 127.0.0.4:" + port + " failed");
                            assertThat(l).doesNotContainKey("dst.workload");
                        }));
        await().atMost(WAIT)
                .untilAsserted(() -> assertThat(MeshFixture.get(MeshFixture.metrics(client), "/metrics"))
                        .containsPattern("istio_tcp_connections_closed_total\\{reporter=\"source\",[^}]*"
                                + "response_flags=\"CONNECT\"[^}]*} 1"));
    }

    @Test
    void closingTheDaemonEndsAWaitingConnection() throws Exception {
        awaitReady();

        try (Socket s = connect("127.0.0.4", 8080)) {
            CompletableFuture<String> banner = bannerOf(s);
            awaitDemand("/127.0.0.4");
            assertThat(banner).isNotDone();
            assertThat(client.state().onDemand().waiting()).isEqualTo(1);

            clientClosed = true;
            client.close();

            assertThat(banner.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isNull();
            assertThat(client.state().onDemand().waiting()).isZero();
            assertThat(client.state().onDemand().enabled()).isFalse();
        }
    }
}
