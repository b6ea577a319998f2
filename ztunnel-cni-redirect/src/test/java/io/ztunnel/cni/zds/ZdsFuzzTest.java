package io.ztunnel.cni.zds;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.InvalidProtocolBufferException;
import io.ztunnel.cni.linux.ErrnoException;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.linux.SeqpacketSocket;
import io.ztunnel.cni.linux.SeqpacketSocket.Message;
import io.ztunnel.cni.testing.NoFdLeaks;
import io.ztunnel.cni.zds.proto.WorkloadResponse;
import java.io.EOFException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fuzzes the daemon's side of ZDS ({@link ZdsClient}) over a real SOCK_SEQPACKET connection: each input is a fresh
 * client and connection, then a sequence of datagrams from a fake node agent (raw bytes, or well-formed requests with
 * fuzzed strings), each with or without a netns fd. Properties: the client sends its hello, answers every datagram
 * with exactly one well-formed {@code WorkloadResponse}, ends the connection only after a NACK, throws nothing out of
 * its thread, never hangs (Jazzer times each input), and leaves no file descriptor open (the fds it was passed are
 * closed, or handed to the handler, which the test closes). Longer runs: README "Reliability".
 */
class ZdsFuzzTest {
    private static final Logger log = LoggerFactory.getLogger(ZdsFuzzTest.class);
    private static final byte[] HELLO_V1 = {0x08, 0x01};
    private static final Duration REPLY_WAIT = Duration.ofSeconds(5);
    private static final AtomicLong executions = new AtomicLong();

    private static final ConcurrentLinkedQueue<Throwable> uncaught = new ConcurrentLinkedQueue<>();

    private static Path dir;
    private static PodNetns ownNetns;
    /** Open descriptors when the first input starts (after Jazzer's own); null until then. */
    private static @Nullable Map<String, String> fdsBefore;

    private static Thread.UncaughtExceptionHandler previousHandler;

    @BeforeAll
    static void setUp() throws IOException {
        dir = Files.createTempDirectory("zds-fuzz");
        ownNetns = PodNetns.openCurrent();
        previousHandler = Thread.getDefaultUncaughtExceptionHandler();
        Thread.setDefaultUncaughtExceptionHandler((t, e) -> uncaught.add(e));
    }

    @AfterAll
    static void closeAndCheckFds() throws IOException, InterruptedException {
        Thread.setDefaultUncaughtExceptionHandler(previousHandler);
        ownNetns.close();
        Files.deleteIfExists(dir);
        log.atInfo()
                .addKeyValue("target", ZdsFuzzTest.class.getSimpleName())
                .addKeyValue("executions", executions.get())
                .log("fuzz target finished");
        Map<String, String> before = fdsBefore;
        if (before == null) {
            return; // no input ran
        }
        // Clients close their sockets on their own threads; give the last one a moment.
        Map<String, String> after = leakedSince(before);
        for (int i = 0; i < 50 && !after.isEmpty(); i++) {
            Thread.sleep(100);
            after = leakedSince(before);
        }
        if (!after.isEmpty()) {
            throw new AssertionError("file descriptors left open by the fuzzed ZDS sessions: " + after);
        }
    }

    /** Descriptors open now and not in {@code before}, leaving out the JVM's and Jazzer's own files. */
    private static Map<String, String> leakedSince(Map<String, String> before) {
        Map<String, String> now = new HashMap<>(NoFdLeaks.openFds());
        now.entrySet().removeIf(e -> e.getValue().equals(before.get(e.getKey())));
        now.values()
                .removeIf(t -> t.endsWith(".jar")
                        || t.endsWith(".so")
                        || t.contains("/lib/jvm/")
                        || t.equals("/dev/random")
                        || t.equals("/dev/urandom"));
        return now;
    }

    @FuzzTest(maxDuration = "10m")
    void answersEveryDatagramOnce(FuzzedDataProvider data) throws IOException {
        if (fdsBefore == null) {
            fdsBefore = NoFdLeaks.openFds(); // after Jazzer set itself up, which opens files of its own
        }
        long n = executions.incrementAndGet();
        // A listener of its own per input: a client that reconnects after its NACK cannot reach the next input.
        Path socketPath = dir.resolve("zds-" + n + ".sock");
        SeqpacketSocket listener = SeqpacketSocket.listen(socketPath, 4);
        RecordingHandler handler = new RecordingHandler();
        ZdsClient client = new ZdsClient(socketPath, handler, Duration.ofMillis(10), Duration.ofMillis(200));
        client.start();
        boolean lastWasNack = false;
        try (SeqpacketSocket agent = listener.accept()) {
            byte[] hello = receive(agent);
            if (hello == null || !Arrays.equals(hello, HELLO_V1)) {
                throw new AssertionError("no ZdsHello{V1} first: " + (hello == null ? "EOF" : Wire.hex(hello)));
            }
            int count = data.consumeInt(1, 12);
            for (int i = 0; i < count && data.remainingBytes() > 0; i++) {
                byte[] request = request(data);
                OptionalInt fd = data.consumeBoolean() ? OptionalInt.of(ownNetns.fd()) : OptionalInt.empty();
                try {
                    agent.send(request, fd);
                } catch (IOException e) {
                    if (!lastWasNack) {
                        throw new AssertionError("connection ended after an ACK", e);
                    }
                    break; // the client ended the connection after its NACK
                }
                byte[] reply = receive(agent);
                if (reply == null) {
                    if (!lastWasNack) {
                        throw new AssertionError("connection ended without a reply to " + Wire.hex(request));
                    }
                    break; // it ended after the previous NACK, before reading this one
                }
                lastWasNack = !parse(reply).getAck().getError().isEmpty();
            }
        } finally {
            client.close();
            listener.close();
            Files.deleteIfExists(socketPath);
            handler.closeAll();
            handler.close();
        }
        Throwable thrown = uncaught.poll();
        if (thrown != null) {
            throw new AssertionError("an exception escaped a thread", thrown);
        }
    }

    private static byte[] request(FuzzedDataProvider data) {
        return switch (data.consumeInt(0, 5)) {
            case 0 -> {
                // Any bytes, also past the 1024-byte limit; an empty datagram would read as end of stream.
                byte[] raw = data.consumeBytes(data.consumeInt(1, SeqpacketSocket.MAX_MESSAGE + 64));
                yield raw.length == 0 ? new byte[] {0} : raw;
            }
            case 1 ->
                Wire.add(
                        data.consumeString(80), data.consumeString(80), data.consumeString(80), data.consumeString(80));
            case 2 -> Wire.addWithoutInfo(data.consumeString(80));
            case 3 -> Wire.keep(data.consumeString(80));
            case 4 -> Wire.del(data.consumeString(80));
            default -> Wire.snapshotSent();
        };
    }

    private static WorkloadResponse parse(byte[] reply) {
        try {
            WorkloadResponse response = WorkloadResponse.parseFrom(reply);
            if (!response.hasAck()) {
                throw new AssertionError("reply is not an ack: " + Wire.hex(reply));
            }
            return response;
        } catch (InvalidProtocolBufferException e) {
            throw new AssertionError("undecodable reply " + Wire.hex(reply), e);
        }
    }

    /** The next datagram's bytes, or null when the client ended the connection. */
    private static byte @Nullable [] receive(SeqpacketSocket agent) throws IOException {
        Optional<Message> m;
        try {
            m = agent.receive(REPLY_WAIT);
        } catch (EOFException e) {
            return null;
        } catch (ErrnoException e) {
            if (e.errnoName().equals("ECONNRESET")) {
                return null; // the client closed with our next datagram still unread: ended, as for EOF
            }
            throw e;
        }
        if (m.isEmpty()) {
            throw new AssertionError("no reply within " + REPLY_WAIT);
        }
        try (Message message = m.get()) {
            if (message.fdCount() != 0) {
                throw new AssertionError("the daemon sent fds");
            }
            return message.data();
        }
    }
}
