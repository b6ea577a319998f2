package io.ztunnel.cni.zds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.linux.SeqpacketSocket;
import io.ztunnel.cni.linux.SeqpacketSocket.Message;
import io.ztunnel.cni.testing.NoFdLeaks;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * The daemon side of ZDS against a fake node agent that writes hand-encoded datagrams and checks
 * the exact bytes of every reply.
 */
@ExtendWith(NoFdLeaks.class)
class ZdsClientTest {
    private static final byte[] HELLO_V1 = {0x08, 0x01};
    private static final byte[] ACK = {0x0a, 0x00};

    @TempDir
    Path dir;

    private Path socketPath;
    private SeqpacketSocket listener;
    private RecordingHandler handler;
    private ZdsClient client;
    private PodNetns ownNetns;

    @BeforeEach
    void setUp() throws Exception {
        socketPath = dir.resolve("ztunnel.sock");
        listener = SeqpacketSocket.listen(socketPath, 4);
        handler = new RecordingHandler();
        client = new ZdsClient(socketPath, handler, Duration.ofMillis(10), Duration.ofMillis(200));
        ownNetns = PodNetns.openCurrent();
    }

    @AfterEach
    void tearDown() {
        client.close();
        listener.close();
        handler.close();
        ownNetns.close();
    }

    /** Accepts the client's connection and checks that its first message is ZdsHello{V1}. */
    private SeqpacketSocket acceptHello() throws Exception {
        SeqpacketSocket conn = accept(listener);
        byte[] hello = receive(conn);
        assertThat(Wire.hex(hello)).as("ZdsHello{version: V1}").isEqualTo(Wire.hex(HELLO_V1));
        return conn;
    }

    @Test
    void sendsHelloThenAcksAHandEncodedAddAndHandsOverItsNetnsFd() throws Exception {
        client.start();
        try (SeqpacketSocket agent = acceptHello()) {
            agent.send(Wire.add("uid-1", "web", "default", "web-sa"), OptionalInt.of(ownNetns.fd()));

            assertThat(Wire.hex(receive(agent)))
                    .as("ACK is WorkloadResponse{ack{}}")
                    .isEqualTo("0a 00");
            assertThat(handler.next()).isEqualTo("add uid-1 default/web (sa web-sa) " + ownNetns.id());
            PodNetns received = handler.netns.getFirst();
            assertThat(received.fd())
                    .as("the handler owns its own copy of the fd")
                    .isNotEqualTo(ownNetns.fd());
            assertThat(client.isConnected()).isTrue();
        }
    }

    @Test
    void nackCarriesTheHandlerErrorEncodedAsProtobufDictates() throws Exception {
        handler.onAdd = uid -> CompletableFuture.failedFuture(new IOException("bind [::]:15001: address in use"));
        client.start();
        try (SeqpacketSocket agent = acceptHello()) {
            agent.send(Wire.add("uid-1", "web", "default", "sa"), OptionalInt.of(ownNetns.fd()));
            String error = "bind [::]:15001: address in use";
            byte[] expected = new byte[4 + error.length()];
            expected[0] = 0x0a; // field 1 (ack), length-delimited
            expected[1] = (byte) (error.length() + 2);
            expected[2] = 0x0a; // field 1 (error), length-delimited
            expected[3] = (byte) error.length();
            System.arraycopy(error.getBytes(StandardCharsets.UTF_8), 0, expected, 4, error.length());
            assertThat(Wire.hex(receive(agent))).isEqualTo(Wire.hex(expected));
        }
    }

    @Test
    void ackWaitsForTheStageTheHandlerReturned() throws Exception {
        CompletableFuture<Void> slowStart = new CompletableFuture<>();
        handler.onAdd = uid -> slowStart;
        client.start();
        try (SeqpacketSocket agent = acceptHello()) {
            agent.send(Wire.add("uid-1", "web", "default", "sa"), OptionalInt.of(ownNetns.fd()));
            assertThat(handler.next()).startsWith("add uid-1");
            assertThat(agent.receive(Duration.ofMillis(200)))
                    .as("no ack while the proxies start")
                    .isEmpty();
            slowStart.complete(null);
            assertThat(receive(agent)).isEqualTo(ACK);
        }
    }

    @Test
    void addWithoutAnFdIsNackedAndTheConnectionGoesOn() throws Exception {
        client.start();
        try (SeqpacketSocket agent = acceptHello()) {
            agent.send(Wire.add("uid-1", "web", "default", "sa"));
            assertThat(text(receive(agent)))
                    .contains("AddWorkload for uid uid-1 must carry exactly one netns fd, got 0");
            agent.send(Wire.snapshotSent());
            assertThat(receive(agent)).isEqualTo(ACK);
            assertThat(handler.next()).as("the add never reached the handler").startsWith("snapshot");
        }
    }

    @Test
    void addWhoseFdIsNoNetworkNamespaceIsNackedAndTheFdClosed() throws Exception {
        client.start();
        SeqpacketSocket[] notANamespace = SeqpacketSocket.pair();
        try (SeqpacketSocket agent = acceptHello();
                SeqpacketSocket p0 = notANamespace[0]) {
            agent.send(Wire.add("uid-1", "web", "default", "sa"), OptionalInt.of(notANamespace[1].fd()));
            notANamespace[1].close();
            assertThat(text(receive(agent))).contains("netns fd for uid uid-1").contains("not a namespace file");
            assertThatThrownBy(() -> p0.receive(Duration.ofSeconds(5))).isInstanceOf(EOFException.class);
            assertThat(handler.events).isEmpty();
        }
    }

    @Test
    void anFdOnADeleteIsNackedAndClosed() throws Exception {
        client.start();
        SeqpacketSocket[] passed = SeqpacketSocket.pair();
        try (SeqpacketSocket agent = acceptHello();
                SeqpacketSocket p0 = passed[0]) {
            agent.send(Wire.del("uid-1"), OptionalInt.of(passed[1].fd()));
            passed[1].close();
            assertThat(text(receive(agent))).contains("DelWorkload must not carry fds, got 1");
            assertThatThrownBy(() -> p0.receive(Duration.ofSeconds(5)))
                    .as("the daemon closed the only remaining copy of the passed socket")
                    .isInstanceOf(EOFException.class);
            agent.send(Wire.del("uid-2"));
            assertThat(receive(agent)).as("the connection goes on").isEqualTo(ACK);
            assertThat(handler.next()).isEqualTo("del uid-2");
        }
    }

    @Test
    void snapshotNamesEveryUidAddedOrKeptButNotDeleted() throws Exception {
        client.start();
        try (SeqpacketSocket agent = acceptHello()) {
            agent.send(Wire.add("a", "pod-a", "ns", "sa"), OptionalInt.of(ownNetns.fd()));
            assertThat(receive(agent)).isEqualTo(ACK);
            agent.send(Wire.keep("b"));
            assertThat(receive(agent)).isEqualTo(ACK);
            agent.send(Wire.add("c", "pod-c", "ns", "sa"), OptionalInt.of(ownNetns.fd()));
            assertThat(receive(agent)).isEqualTo(ACK);
            agent.send(Wire.del("c"));
            assertThat(receive(agent)).isEqualTo(ACK);
            agent.send(Wire.snapshotSent());
            assertThat(receive(agent)).isEqualTo(ACK);

            assertThat(handler.events)
                    .containsExactly(
                            "add a ns/pod-a (sa sa) " + ownNetns.id(),
                            "keep b",
                            "add c ns/pod-c (sa sa) " + ownNetns.id(),
                            "del c",
                            "snapshot [a, b]");
        }
    }

    @Test
    void keepAfterTheSnapshotIsAProtocolViolationThatStopsTheClient() throws Exception {
        client.start();
        try (SeqpacketSocket agent = acceptHello()) {
            agent.send(Wire.snapshotSent());
            assertThat(receive(agent)).isEqualTo(ACK);
            agent.send(Wire.keep("uid-1"));
            assertThat(text(receive(agent))).contains("KeepWorkload for uid uid-1 after SnapshotSent");
            assertThat(handler.violation.get(5, TimeUnit.SECONDS))
                    .isEqualTo("KeepWorkload for uid uid-1 after SnapshotSent");
            assertThatThrownBy(agent::receive).isInstanceOf(EOFException.class);
        }
        assertNoReconnect();
    }

    @Test
    void aSecondSnapshotSentIsAProtocolViolation() throws Exception {
        client.start();
        try (SeqpacketSocket agent = acceptHello()) {
            agent.send(Wire.snapshotSent());
            assertThat(receive(agent)).isEqualTo(ACK);
            agent.send(Wire.snapshotSent());
            assertThat(text(receive(agent))).contains("second SnapshotSent");
            assertThat(handler.violation.get(5, TimeUnit.SECONDS)).contains("second SnapshotSent");
        }
        assertNoReconnect();
    }

    @Test
    void addWithoutWorkloadInfoIsAProtocolViolationAndItsFdIsClosed() throws Exception {
        client.start();
        try (SeqpacketSocket agent = acceptHello()) {
            agent.send(Wire.addWithoutInfo("uid-1"), OptionalInt.of(ownNetns.fd()));
            assertThat(text(receive(agent))).contains("AddWorkload for uid uid-1 has no workload_info");
            assertThat(handler.violation.get(5, TimeUnit.SECONDS)).contains("no workload_info");
            assertThat(handler.netns).isEmpty();
        }
        assertNoReconnect();
    }

    @Test
    void undecodableMessageIsNackedThenTheClientReconnects() throws Exception {
        client.start();
        try (SeqpacketSocket agent = acceptHello()) {
            agent.send(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff});
            assertThat(text(receive(agent))).contains("cannot decode WorkloadRequest (3 bytes)");
            assertThatThrownBy(agent::receive).isInstanceOf(EOFException.class);
        }
        try (SeqpacketSocket again = acceptHello()) {
            assertThat(handler.disconnects.poll(5, TimeUnit.SECONDS)).hasMessageContaining("cannot decode");
            assertThat(handler.violation).isNotDone();
        }
    }

    @Test
    void messageLongerThan1024BytesIsNackedAsTruncatedThenTheClientReconnects() throws Exception {
        client.start();
        try (SeqpacketSocket agent = acceptHello()) {
            agent.send(Wire.add("u".repeat(1100), "web", "default", "sa"), OptionalInt.of(ownNetns.fd()));
            assertThat(text(receive(agent))).contains("longer than 1024 bytes");
            assertThatThrownBy(agent::receive).isInstanceOf(EOFException.class);
        }
        try (SeqpacketSocket again = acceptHello()) {
            assertThat(handler.netns)
                    .as("the truncated add's fd was closed, not handed over")
                    .isEmpty();
        }
    }

    @Test
    void reconnectsWithBackoffWhenTheAgentIsNotThereYetAndAfterItGoesAway() throws Exception {
        listener.close();
        Logger clientLog = (Logger) LoggerFactory.getLogger(ZdsClient.class);
        ListAppender<ILoggingEvent> logs = new ListAppender<>();
        logs.start();
        clientLog.addAppender(logs);
        try {
            client.start();
            // No listener at the path: the client says it cannot connect and keeps trying (every 20th failure is
            // logged again, so a second line shows at least 20 attempts went by without giving up).
            await().atMost(Duration.ofSeconds(20))
                    .untilAsserted(() -> assertThat(List.copyOf(logs.list))
                            .filteredOn(
                                    e -> e.getFormattedMessage().equals("cannot connect to the node agent, retrying"))
                            .extracting(e -> e.getLevel() + " " + keyValues(e))
                            .contains(
                                    "WARN socket=" + socketPath + " attempts=1",
                                    "WARN socket=" + socketPath + " attempts=20"));
        } finally {
            clientLog.detachAppender(logs);
        }
        assertThat(client.isConnected()).isFalse();
        assertThat(handler.events).isEmpty();
        listener = SeqpacketSocket.listen(socketPath, 4);
        try (SeqpacketSocket agent = acceptHello()) {
            agent.send(Wire.snapshotSent());
            assertThat(receive(agent)).isEqualTo(ACK);
        }
        // The agent restarts: its connection and socket go away, a new one comes.
        listener.close();
        assertThat(handler.disconnects.poll(5, TimeUnit.SECONDS)).isNotNull();
        assertThat(client.isConnected()).isFalse();
        listener = SeqpacketSocket.listen(socketPath, 4);
        try (SeqpacketSocket agent = acceptHello()) {
            agent.send(Wire.snapshotSent());
            assertThat(receive(agent))
                    .as("a fresh session accepts a new snapshot")
                    .isEqualTo(ACK);
            assertThat(handler.events).containsExactly("snapshot []", "snapshot []");
        }
    }

    /** The socket and attempts fields of a log event, as "socket=... attempts=...". */
    private static String keyValues(ILoggingEvent e) {
        Map<String, String> kv = new HashMap<>();
        if (e.getKeyValuePairs() != null) {
            e.getKeyValuePairs().forEach(p -> kv.put(p.key, String.valueOf(p.value)));
        }
        return "socket=" + kv.get("socket") + " attempts=" + kv.get("attempts");
    }

    @Test
    void closeStopsTheClientEvenWhileAHandlerStageIsPending() throws Exception {
        handler.onAdd = uid -> new CompletableFuture<>(); // never completes
        client.start();
        try (SeqpacketSocket agent = acceptHello()) {
            agent.send(Wire.add("uid-1", "web", "default", "sa"), OptionalInt.of(ownNetns.fd()));
            assertThat(handler.next()).startsWith("add uid-1");
            long start = System.nanoTime();
            client.close();
            assertThat(System.nanoTime() - start).isLessThan(TimeUnit.SECONDS.toNanos(4));
            assertThatThrownBy(() -> agent.receive(Duration.ofSeconds(5))).isInstanceOf(EOFException.class);
            assertThat(handler.disconnects)
                    .as("an orderly stop is no disconnect")
                    .isEmpty();
            assertThat(client.isConnected()).isFalse();
        }
    }

    private void assertNoReconnect() throws Exception {
        CompletableFuture<SeqpacketSocket> next = acceptAsync(listener);
        try {
            Thread.sleep(300); // the backoff here is at most 200 ms
            assertThat(next).as("no reconnect after a protocol violation").isNotDone();
        } finally {
            listener.close(); // ends the pending accept
            next.handle((s, e) -> s).thenAccept(s -> {
                if (s != null) {
                    s.close();
                }
            });
        }
    }

    static SeqpacketSocket accept(SeqpacketSocket listener) throws Exception {
        return acceptAsync(listener).get(5, TimeUnit.SECONDS);
    }

    static CompletableFuture<SeqpacketSocket> acceptAsync(SeqpacketSocket listener) {
        CompletableFuture<SeqpacketSocket> f = new CompletableFuture<>();
        Thread.ofPlatform().daemon(true).start(() -> {
            try {
                f.complete(listener.accept());
            } catch (Throwable t) {
                f.completeExceptionally(t);
            }
        });
        return f;
    }

    /** The next message's bytes (it must carry no fds), waiting up to 5 s. */
    static byte[] receive(SeqpacketSocket s) throws IOException {
        Optional<Message> m = s.receive(Duration.ofSeconds(5));
        assertThat(m).as("a message within 5 s").isPresent();
        try (Message message = m.get()) {
            assertThat(message.fdCount()).isZero();
            return message.data();
        }
    }

    private static String text(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
