package io.ztunnel.core.app;

import static io.ztunnel.core.control.XdsProtos.address;
import static io.ztunnel.core.control.XdsProtos.member;
import static io.ztunnel.core.control.XdsProtos.workload;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.WorkloadCertificate;
import io.ztunnel.core.testing.TestApps;
import io.ztunnel.xds.testing.FakeIstiod;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Control-plane faults while traffic flows, between two dedicated-mode daemons fed by the fake istiod (xDS and CA on
 * one server, as istiod): istiod going away and coming back, and its CA failing across a certificate renewal. What is
 * asserted is what a user of the mesh notices: a connection opened before the fault keeps carrying every byte intact,
 * new connections keep working, readiness does not drop, and the daemons say what went wrong.
 */
@Timeout(120)
class ControlPlaneFaultsTest {
    private static final String ECHO = "server/echo.server.svc.cluster.local";
    private static final SpiffeId CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/client/sa/client");

    @TempDir
    Path dir;

    private final FakeIstiod istiod = FakeIstiod.startTls();
    private final TestApps.Server app = MeshFixture.banner("server-a", new InetSocketAddress("127.0.0.3", 8080));
    private final ListAppender<ILoggingEvent> logs = new ListAppender<>();
    private final Random random = new Random(19);
    private @Nullable Daemon client;
    private @Nullable Daemon server;
    private int socksPort;

    ControlPlaneFaultsTest() throws IOException {}

    private void startMesh(Map<String, String> extra) throws Exception {
        logs.start();
        ((Logger) LoggerFactory.getLogger(CertificateManager.class)).addAppender(logs);
        istiod.setAddress(address(workload("client", "client", "127.0.0.2")));
        istiod.setAddress(address(member(workload("server", "server-a", "127.0.0.3"), ECHO, 80, 8080)));
        socksPort = MeshFixture.freePort();
        Map<String, String> clientEnv = new HashMap<>(extra);
        clientEnv.putAll(Map.of("UNSTABLE_ENABLE_SOCKS5", "true", "SOCKS5_PORT", String.valueOf(socksPort)));
        client = Daemon.start(config("client/client/client", "127.0.0.2", clientEnv));
        server = Daemon.start(config("server/server-a/server-a", "127.0.0.3", extra));
        await().atMost(Duration.ofSeconds(30))
                .until(() ->
                        client().readiness().isReady() && server().readiness().isReady());
    }

    @AfterEach
    void tearDown() throws Exception {
        ((Logger) LoggerFactory.getLogger(CertificateManager.class)).detachAppender(logs);
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
        app.close();
        istiod.close();
    }

    private Daemon client() {
        return Objects.requireNonNull(client, "started");
    }

    private Daemon server() {
        return Objects.requireNonNull(server, "started");
    }

    private Config config(String workload, String ip, Map<String, String> extra) throws Exception {
        return IstiodDaemons.config(istiod, dir, workload, ip, extra);
    }

    /** A connection through the client daemon's SOCKS5 listener to the server app, its banner read. */
    private Socket open() throws Exception {
        Socket s = new Socket(new Proxy(Proxy.Type.SOCKS, new InetSocketAddress("127.0.0.2", socksPort)));
        s.setSoTimeout(10_000);
        s.connect(new InetSocketAddress("127.0.0.3", 8080), 10_000);
        assertThat(MeshFixture.banner(s)).as("the server app's banner").isEqualTo("server-a");
        return s;
    }

    /** Sends {@code size} random bytes over {@code s} and checks that the echo brings back exactly those bytes. */
    private void roundTrip(Socket s, int size) throws IOException {
        byte[] sent = new byte[size];
        random.nextBytes(sent);
        s.getOutputStream().write(sent);
        s.getOutputStream().flush();
        assertThat(s.getInputStream().readNBytes(size))
                .as("the echo of %d bytes", size)
                .isEqualTo(sent);
    }

    /** A new connection works end to end. */
    private void freshConnectionWorks() throws Exception {
        try (Socket s = open()) {
            roundTrip(s, 16 * 1024);
        }
    }

    private WorkloadCertificate certificate(Daemon daemon, SpiffeId identity) {
        return daemon.certificates().status().stream()
                .filter(s -> s.identity().equals(identity) && s.certificate() != null)
                .findFirst()
                .map(CertificateManager.Status::certificate)
                .orElseThrow(() -> new AssertionError("no certificate for " + identity));
    }

    @Test
    void istiodGoingAwayAndComingBackLeavesConnectionsStateAndReadinessAlone() throws Exception {
        startMesh(Map.of());
        try (Socket longLived = open()) {
            roundTrip(longLived, 64 * 1024);
            // 5 in the normal suite; -Dfaults.istiodRestarts=20 for the longer run the README reports
            int cycles = Integer.getInteger("faults.istiodRestarts", 5);
            for (int i = 0; i < cycles; i++) {
                long streams = istiod.streamsOpened();
                istiod.stop(); // xDS and CA gone at once, streams cut abruptly
                roundTrip(longLived, 64 * 1024);
                freshConnectionWorks();
                assertThat(client().readiness().isReady())
                        .as("readiness stays up while istiod is away (cycle %d)", i)
                        .isTrue();
                assertThat(server().readiness().isReady()).isTrue();
                assertThat(server().state().current().workloadCount())
                        .as("the state is kept")
                        .isEqualTo(2);
                istiod.restart();
                // Both daemons subscribe again (one ADS stream each) before the next cycle.
                await().atMost(Duration.ofSeconds(30)).until(() -> istiod.streamsOpened() >= streams + 2);
                roundTrip(longLived, 16 * 1024);
            }
            freshConnectionWorks();
            assertThat(istiod.nacks()).isEmpty();
            // The fresh connections' ends reach the daemon asynchronously; the long-lived one must stay.
            await().atMost(Duration.ofSeconds(10))
                    .untilAsserted(() -> assertThat(client().connections().snapshot())
                            .as("the long-lived connection is the one still open on the client")
                            .hasSize(1));
            roundTrip(longLived, 16 * 1024);
        }
    }

    @Test
    void aCaOutageAcrossARenewalKeepsConnectionsAndTheStillValidCertificateInUse() throws Exception {
        // 12 s certificates valid from the moment they are issued: renewed at half-life, 6 s after issue. The CA fails
        // before that, and the renewal time passes during the outage.
        istiod.caBackdate(Duration.ZERO);
        startMesh(Map.of("SECRET_TTL", "12s"));
        try (Socket longLived = open()) {
            WorkloadCertificate issued = certificate(client(), CLIENT);
            istiod.caMode(FakeIstiod.CaMode.ERROR);
            int caRequests = istiod.caRequests().size();
            assertThat(Instant.now())
                    .as("the outage starts before the renewal time")
                    .isBefore(issued.refreshAt());

            await().atMost(Duration.ofSeconds(10))
                    .until(
                            () -> LogEvents.withMessage(
                                            logs.list, "certificate renewal failed; keeping the current certificate")
                                    .stream()
                                    .anyMatch(l -> CLIENT.toString().equals(l.get("identity"))));
            assertThat(istiod.caRequests().size()).as("renewals were attempted").isGreaterThan(caRequests);
            assertThat(Instant.now())
                    .as("still inside the first certificate's life")
                    .isBefore(issued.notAfter());
            roundTrip(longLived, 64 * 1024);
            freshConnectionWorks(); // new connections keep using the still-valid certificates
            assertThat(certificate(client(), CLIENT).serialHex())
                    .as("still the certificate issued before the outage")
                    .isEqualTo(issued.serialHex());
            assertThat(client().certificates().status())
                    .filteredOn(s -> s.identity().equals(CLIENT))
                    .singleElement()
                    .satisfies(s -> {
                        assertThat(s.state()).isEqualTo(CertificateManager.State.AVAILABLE);
                        assertThat(s.error())
                                .as("the status says why it was not renewed")
                                .isNotBlank();
                    });
            assertThat(client().readiness().isReady()).isTrue();

            istiod.caMode(FakeIstiod.CaMode.NORMAL);
            await().atMost(Duration.ofSeconds(10))
                    .until(() -> !certificate(client(), CLIENT).serialHex().equals(issued.serialHex()));
            roundTrip(longLived, 64 * 1024);
            freshConnectionWorks();
        }
    }
}
