package io.ztunnel.cni.zds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.linux.SeqpacketSocket;
import io.ztunnel.cni.testing.NoFdLeaks;
import java.io.EOFException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** The node agent side of ZDS, mostly against our own {@link ZdsClient}s. */
@ExtendWith(NoFdLeaks.class)
class ZdsServerTest {
    private static final WorkloadInfo WEB = new WorkloadInfo("web", "default", "web-sa");

    @TempDir
    Path dir;

    private Path socketPath;
    private PodNetns podNetns;
    private final List<ZdsClient> clients = new ArrayList<>();
    private final List<RecordingHandler> handlers = new ArrayList<>();
    private final List<ZdsServer.SnapshotEntry> snapshot = new CopyOnWriteArrayList<>();
    private ZdsServer server;

    @BeforeEach
    void setUp() throws Exception {
        socketPath = dir.resolve("run/ztunnel/ztunnel.sock");
        podNetns = PodNetns.openCurrent();
        server =
                ZdsServer.start(socketPath, () -> List.copyOf(snapshot), Duration.ofMillis(20), Duration.ofMillis(100));
    }

    @AfterEach
    void tearDown() {
        clients.forEach(ZdsClient::close);
        server.close();
        handlers.forEach(RecordingHandler::close);
        podNetns.close();
    }

    private RecordingHandler connectDaemon() throws Exception {
        RecordingHandler handler = new RecordingHandler();
        handlers.add(handler);
        int before = server.connectionCount();
        ZdsClient client = new ZdsClient(socketPath, handler, Duration.ofMillis(10), Duration.ofMillis(200));
        clients.add(client);
        client.start();
        assertThat(handler.next()).as("every connection starts with a snapshot").startsWith("snapshot");
        await().atMost(Duration.ofSeconds(5)).until(() -> server.connectionCount() == before + 1);
        return handler;
    }

    @Test
    void newDaemonGetsTheSnapshotThenSnapshotSentWithTheNamedSet() throws Exception {
        snapshot.add(new ZdsServer.SnapshotEntry.Add("pod-a", WEB, podNetns));
        snapshot.add(new ZdsServer.SnapshotEntry.Keep("pod-b"));
        RecordingHandler daemon = new RecordingHandler();
        handlers.add(daemon);
        ZdsClient client = new ZdsClient(socketPath, daemon, Duration.ofMillis(10), Duration.ofMillis(200));
        clients.add(client);
        client.start();

        assertThat(daemon.next()).isEqualTo("add pod-a default/web (sa web-sa) " + podNetns.id());
        assertThat(daemon.next()).isEqualTo("keep pod-b");
        assertThat(daemon.next()).isEqualTo("snapshot [pod-a, pod-b]");
        assertThat(daemon.lastSnapshot).containsExactlyInAnyOrder("pod-a", "pod-b");
    }

    @Test
    void addsGoToTheNewestDaemonAndDeletesToAll() throws Exception {
        RecordingHandler old = connectDaemon();
        RecordingHandler upgraded = connectDaemon();

        server.addWorkload("pod-1", WEB, podNetns).get(5, TimeUnit.SECONDS);
        assertThat(upgraded.next()).isEqualTo("add pod-1 default/web (sa web-sa) " + podNetns.id());
        assertThat(old.events).as("the draining daemon gets no new pods").isEmpty();

        server.deleteWorkload("pod-1").get(5, TimeUnit.SECONDS);
        assertThat(upgraded.next()).isEqualTo("del pod-1");
        assertThat(old.next()).isEqualTo("del pod-1");
    }

    @Test
    void aNackSurfacesAsAnExceptionCarryingTheDaemonsMessage() throws Exception {
        RecordingHandler daemon = connectDaemon();
        daemon.onAdd = uid -> CompletableFuture.failedFuture(new IllegalStateException("port 15008 is taken"));

        CompletableFuture<Void> add = server.addWorkload("pod-1", WEB, podNetns);

        assertThatThrownBy(() -> add.get(5, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class)
                .cause()
                .isInstanceOf(ZdsException.class)
                .hasMessageContaining("AddWorkload uid pod-1")
                .hasMessageContaining("port 15008 is taken");
        ZdsException nack = (ZdsException) add.exceptionNow();
        assertThat(nack.isNack()).isTrue();
        assertThat(nack.nackError()).isEqualTo("port 15008 is taken");
        // The connection survives a NACK.
        server.deleteWorkload("pod-1").get(5, TimeUnit.SECONDS);
    }

    @Test
    void addOfAClosedNetnsFailsClearlyAndTheConnectionGoesOn() throws Exception {
        RecordingHandler daemon = connectDaemon();
        PodNetns gone = PodNetns.openCurrent();
        gone.close();
        assertThat(server.addWorkload("pod-x", WEB, gone))
                .failsWithin(Duration.ofSeconds(5))
                .withThrowableOfType(ExecutionException.class)
                .withMessageContaining("AddWorkload uid pod-x")
                .withMessageContaining("is closed");
        server.addWorkload("pod-y", WEB, podNetns).get(5, TimeUnit.SECONDS);
        assertThat(daemon.next()).startsWith("add pod-y");
    }

    @Test
    void addWithoutAnyDaemonFailsWithNoZtunnelConnection() {
        assertThat(server.addWorkload("pod-1", WEB, podNetns))
                .failsWithin(Duration.ofSeconds(1))
                .withThrowableOfType(ExecutionException.class)
                .withMessageContaining("no ztunnel connection");
        assertThat(server.deleteWorkload("pod-1")).as("nothing to delete from").succeedsWithin(Duration.ofSeconds(1));
    }

    @Test
    void aDaemonThatGoesAwayIsDroppedWithoutTraffic() throws Exception {
        connectDaemon();
        clients.getFirst().close();
        await().atMost(Duration.ofSeconds(5)).until(() -> server.connectionCount() == 0);
        assertThat(server.addWorkload("pod-1", WEB, podNetns))
                .failsWithin(Duration.ofSeconds(1))
                .withThrowableOfType(ExecutionException.class)
                .withMessageContaining("no ztunnel connection");
    }

    @Test
    void refusesAHelloWithAnotherVersion() throws Exception {
        try (SeqpacketSocket daemon = SeqpacketSocket.connect(socketPath)) {
            daemon.send(Wire.varintField(1, 2)); // ZdsHello{version: 2}
            assertThatThrownBy(() -> daemon.receive(Duration.ofSeconds(5))).isInstanceOf(EOFException.class);
        }
        assertThat(server.connectionCount()).isZero();
    }

    @Test
    void writesTheExactWireBytesAndWaitsForEachAck() throws Exception {
        snapshot.add(new ZdsServer.SnapshotEntry.Keep("pod-k"));
        try (SeqpacketSocket daemon = SeqpacketSocket.connect(socketPath)) {
            daemon.send(new byte[] {0x08, 0x01});
            assertThat(Wire.hex(ZdsClientTest.receive(daemon))).isEqualTo(Wire.hex(Wire.keep("pod-k")));
            assertThat(daemon.receive(Duration.ofMillis(200)))
                    .as("nothing more before the ack")
                    .isEmpty();
            daemon.send(Wire.ack());
            assertThat(Wire.hex(ZdsClientTest.receive(daemon))).isEqualTo("1a 00");
            daemon.send(Wire.ack());
            await().atMost(Duration.ofSeconds(5)).until(() -> server.connectionCount() == 1);

            CompletableFuture<Void> del = server.deleteWorkload("pod-k");
            assertThat(Wire.hex(ZdsClientTest.receive(daemon))).isEqualTo(Wire.hex(Wire.del("pod-k")));
            assertThat(del).isNotDone();
            daemon.send(Wire.nack("no such pod"));
            assertThat(del)
                    .failsWithin(Duration.ofSeconds(5))
                    .withThrowableOfType(ExecutionException.class)
                    .withMessageContaining("no such pod");
        }
    }

    @Test
    void closingTheServerFailsPendingRequestsAndRemovesTheSocketFile() throws Exception {
        try (SeqpacketSocket daemon = SeqpacketSocket.connect(socketPath)) {
            daemon.send(new byte[] {0x08, 0x01});
            assertThat(Wire.hex(ZdsClientTest.receive(daemon))).isEqualTo("1a 00");
            daemon.send(Wire.ack());
            await().atMost(Duration.ofSeconds(5)).until(() -> server.connectionCount() == 1);
            CompletableFuture<Void> add = server.addWorkload("pod-1", WEB, podNetns);
            try (SeqpacketSocket.Message m =
                    daemon.receive(Duration.ofSeconds(5)).orElseThrow()) {
                assertThat(m.fdCount()).as("AddWorkload carries the netns fd").isEqualTo(1);
            } // ...and is never acked
            server.close();
            assertThat(add)
                    .failsWithin(Duration.ofSeconds(5))
                    .withThrowableOfType(ExecutionException.class)
                    .withMessageContaining("pod-1");
        }
        assertThat(socketPath).doesNotExist();
    }
}
