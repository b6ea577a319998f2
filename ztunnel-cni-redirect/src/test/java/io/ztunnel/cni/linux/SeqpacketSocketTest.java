package io.ztunnel.cni.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.ztunnel.cni.linux.SeqpacketSocket.Message;
import io.ztunnel.cni.linux.SeqpacketSocket.TruncatedMessageException;
import io.ztunnel.cni.testing.NoFdLeaks;
import java.io.EOFException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.ClosedChannelException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

@ExtendWith(NoFdLeaks.class)
class SeqpacketSocketTest {
    @TempDir
    Path dir;

    @Test
    void deliversEachSendAsOneMessageWithItsBoundaries() throws Exception {
        SeqpacketSocket[] pair = SeqpacketSocket.pair();
        try (SeqpacketSocket a = pair[0];
                SeqpacketSocket b = pair[1]) {
            a.send(bytes("first"));
            a.send(bytes("second message"));
            try (Message m1 = b.receive();
                    Message m2 = b.receive()) {
                assertThat(text(m1)).isEqualTo("first");
                assertThat(text(m2)).isEqualTo("second message");
                assertThat(m1.fdCount()).isZero();
            }
        }
    }

    @Test
    void passesAWorkingFdAlongWithTheMessage() throws Exception {
        SeqpacketSocket[] carrier = SeqpacketSocket.pair();
        SeqpacketSocket[] payload = SeqpacketSocket.pair();
        try (SeqpacketSocket a = carrier[0];
                SeqpacketSocket b = carrier[1];
                SeqpacketSocket p0 = payload[0];
                SeqpacketSocket p1 = payload[1]) {
            a.send(bytes("here is an fd"), OptionalInt.of(p1.fd()));
            int received;
            try (Message m = b.receive()) {
                assertThat(text(m)).isEqualTo("here is an fd");
                assertThat(m.fdCount()).isEqualTo(1);
                received = m.takeFd(0);
            }
            // The received fd is a second handle on p1: writing through it reaches p0.
            assertThat(received).isNotEqualTo(p1.fd());
            sendRaw(received, "through the passed fd");
            Libc.close(received);
            try (Message m = p0.receive()) {
                assertThat(text(m)).isEqualTo("through the passed fd");
            }
        }
    }

    @Test
    void rejectsMessageLongerThan1024BytesAsTruncatedAndKeepsTheConnectionUsable() throws Exception {
        SeqpacketSocket[] pair = SeqpacketSocket.pair();
        try (SeqpacketSocket a = pair[0];
                SeqpacketSocket b = pair[1]) {
            a.send(new byte[1500]);
            a.send(new byte[1024]);
            assertThatThrownBy(b::receive)
                    .isInstanceOf(TruncatedMessageException.class)
                    .hasMessageContaining("longer than 1024 bytes");
            try (Message exactlyAtLimit = b.receive()) {
                assertThat(exactlyAtLimit.data()).hasSize(1024);
            }
        }
    }

    @Test
    void closesFdsOfATruncatedMessage() throws Exception {
        SeqpacketSocket[] pair = SeqpacketSocket.pair();
        SeqpacketSocket[] payload = SeqpacketSocket.pair();
        try (SeqpacketSocket a = pair[0];
                SeqpacketSocket b = pair[1];
                SeqpacketSocket p0 = payload[0]) {
            a.send(new byte[2000], OptionalInt.of(payload[1].fd()));
            payload[1].close();
            assertThatThrownBy(b::receive).isInstanceOf(TruncatedMessageException.class);
            assertThatThrownBy(() -> p0.receive(Duration.ofSeconds(5)))
                    .as("the receiver closed its copy of the passed socket, so its peer sees EOF")
                    .isInstanceOf(EOFException.class);
        }
    }

    @Test
    void closingAMessageClosesTheFdsNobodyTook() throws Exception {
        SeqpacketSocket[] pair = SeqpacketSocket.pair();
        SeqpacketSocket[] payload = SeqpacketSocket.pair();
        try (SeqpacketSocket a = pair[0];
                SeqpacketSocket b = pair[1];
                SeqpacketSocket p0 = payload[0]) {
            a.send(bytes("fd nobody wants"), OptionalInt.of(payload[1].fd()));
            payload[1].close();
            try (Message m = b.receive()) {
                assertThat(m.fdCount()).isEqualTo(1);
            }
            assertThatThrownBy(() -> p0.receive(Duration.ofSeconds(5)))
                    .as("the peer of the passed socket sees EOF once every copy is closed")
                    .isInstanceOf(EOFException.class);
        }
    }

    @Test
    void reportsEofWhenThePeerCloses() throws Exception {
        SeqpacketSocket[] pair = SeqpacketSocket.pair();
        try (SeqpacketSocket b = pair[1]) {
            pair[0].close();
            assertThatThrownBy(b::receive).isInstanceOf(EOFException.class);
        }
    }

    @Test
    void receiveWithTimeoutReturnsEmptyWhenNothingArrives() throws Exception {
        SeqpacketSocket[] pair = SeqpacketSocket.pair();
        try (SeqpacketSocket a = pair[0];
                SeqpacketSocket b = pair[1]) {
            long start = System.nanoTime();
            assertThat(b.receive(Duration.ofMillis(100))).isEmpty();
            assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(90));
            a.send(bytes("late"));
            Optional<Message> m = b.receive(Duration.ofSeconds(5));
            assertThat(m).isPresent();
            try (Message message = m.get()) {
                assertThat(text(message)).isEqualTo("late");
            }
        }
    }

    @Test
    void closeFromAnotherThreadWakesABlockedReceive() throws Exception {
        SeqpacketSocket[] pair = SeqpacketSocket.pair();
        try (SeqpacketSocket a = pair[0]) {
            SeqpacketSocket b = pair[1];
            CompletableFuture<Throwable> outcome = new CompletableFuture<>();
            Thread reader = Thread.ofPlatform().start(() -> {
                try (Message m = b.receive()) {
                    outcome.complete(null);
                } catch (Throwable t) {
                    outcome.complete(t);
                }
            });
            awaitInLibc(reader, "recvmsg");
            b.close();
            assertThat(outcome.get(5, TimeUnit.SECONDS)).isInstanceOf(AsynchronousCloseException.class);
            reader.join();
            assertThatThrownBy(() -> b.send(bytes("x"))).isInstanceOf(ClosedChannelException.class);
        }
    }

    @Test
    void listenerReplacesAStaleSocketFileAcceptsAndUnlinksOnClose() throws Exception {
        Path path = dir.resolve("zds.sock");
        Files.writeString(path, "stale leftover");
        try (SeqpacketSocket listener = SeqpacketSocket.listen(path, 4)) {
            CompletableFuture<SeqpacketSocket> accepted = CompletableFuture.supplyAsync(() -> {
                try {
                    return listener.accept();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            try (SeqpacketSocket client = SeqpacketSocket.connect(path);
                    SeqpacketSocket server = accepted.get(5, TimeUnit.SECONDS)) {
                client.send(bytes("hello"));
                try (Message m = server.receive()) {
                    assertThat(text(m)).isEqualTo("hello");
                }
                server.send(bytes("world"));
                try (Message m = client.receive()) {
                    assertThat(text(m)).isEqualTo("world");
                }
            }
        }
        assertThat(path).doesNotExist();
    }

    @Test
    void closeWakesABlockedAccept() throws Exception {
        SeqpacketSocket listener = SeqpacketSocket.listen(dir.resolve("a.sock"), 4);
        CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        Thread t = Thread.ofPlatform().start(() -> {
            try (SeqpacketSocket s = listener.accept()) {
                outcome.complete(null);
            } catch (Throwable e) {
                outcome.complete(e);
            }
        });
        awaitInLibc(t, "accept4");
        listener.close();
        assertThat(outcome.get(5, TimeUnit.SECONDS)).isInstanceOf(AsynchronousCloseException.class);
        t.join();
    }

    /**
     * Waits until {@code thread} is in the libc call {@code call} (blocked there, or about to be): a close from now on
     * is one that must wake it, not one that the call sees before it starts.
     */
    private static void awaitInLibc(Thread thread, String call) {
        await().atMost(Duration.ofSeconds(5))
                .pollInterval(Duration.ofMillis(5))
                .until(() -> Arrays.stream(thread.getStackTrace())
                        .anyMatch(f -> f.getClassName().equals(Libc.class.getName())
                                && f.getMethodName().equals(call)));
    }

    @Test
    void connectToAMissingSocketNamesThePathAndErrno() {
        Path missing = dir.resolve("nobody-listens.sock");
        assertThatThrownBy(() -> SeqpacketSocket.connect(missing))
                .isInstanceOf(ErrnoException.class)
                .hasMessageContaining("connect(" + missing + ")")
                .hasMessageContaining("ENOENT");
    }

    @Test
    void refusesToSendAnEmptyMessageBecauseThePeerWouldReadEof() throws Exception {
        SeqpacketSocket[] pair = SeqpacketSocket.pair();
        try (SeqpacketSocket a = pair[0];
                SeqpacketSocket b = pair[1]) {
            assertThatThrownBy(() -> a.send(new byte[0])).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void rejectsAPathTooLongForSockaddrUn() {
        Path longPath = dir.resolve("x".repeat(120));
        assertThatThrownBy(() -> SeqpacketSocket.listen(longPath, 1)).hasMessageContaining("the limit is 107");
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String text(Message m) {
        return new String(m.data(), StandardCharsets.UTF_8);
    }

    /** Sends through a raw fd that no SeqpacketSocket object wraps. */
    private static void sendRaw(int fd, String s) throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            byte[] data = bytes(s);
            MemorySegment buf = arena.allocate(data.length);
            MemorySegment.copy(data, 0, buf, ValueLayout.JAVA_BYTE, 0, data.length);
            MemorySegment iov = arena.allocate(16, 8);
            iov.set(ValueLayout.ADDRESS, 0, buf);
            iov.set(ValueLayout.JAVA_LONG, 8, data.length);
            MemorySegment msg = arena.allocate(56, 8);
            msg.set(ValueLayout.ADDRESS, 16, iov);
            msg.set(ValueLayout.JAVA_LONG, 24, 1L);
            assertThat(Libc.sendmsg(fd, msg, 0, "test")).isEqualTo(data.length);
        }
    }
}
