package io.ztunnel.core.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.ztunnel.core.config.HboneSettings;
import io.ztunnel.core.testing.TestApps;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Long-lived connections: certificate rotation underneath, and a reader that stops reading. */
@Timeout(120)
class HboneFlowTest {
    @TempDir
    Path caDir;

    // Set by each test before use; the teardown closes what was set.
    @SuppressWarnings("NullAway.Init")
    private HboneTestBed bed;

    @SuppressWarnings("NullAway.Init")
    private TestApps.Server app;

    @AfterEach
    void tearDown() throws Exception {
        if (bed != null) {
            bed.close();
        }
        if (app != null) {
            app.close();
        }
    }

    @Test
    void certificateRenewalDuringALongTransferLosesNothing() throws Exception {
        AtomicReference<TestApps.Digest> received = new AtomicReference<>();
        app = new TestApps.Server(s -> {
            try {
                received.set(TestApps.receive(s.getInputStream()));
                s.getOutputStream().write(1);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        // 3 s certificates renew about every 1.5 s: several renewals happen during the transfer.
        bed = new HboneTestBed(caDir, HboneSettings.DEFAULT, Duration.ofSeconds(3), 2);
        bed.target = app.address();
        InetSocketAddress forwarder = bed.startForwarder(bed.startServer());
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            String firstSerial =
                    bed.certs.fetch(HboneTestBed.CLIENT).join().certificate().serialHex();
            String sent = sendSlowly(s, 5_000);
            s.shutdownOutput();
            assertThat(s.getInputStream().read()).isEqualTo(1);
            assertThat(Objects.requireNonNull(bed.certs.current(HboneTestBed.CLIENT))
                            .certificate()
                            .serialHex())
                    .isNotEqualTo(firstSerial);
            assertThat(received.get().sha256()).isEqualTo(sent);
        }
        // New connections after the renewals work with the new certificates.
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            s.getOutputStream().write(new byte[10]);
            s.shutdownOutput();
            assertThat(s.getInputStream().read()).isEqualTo(1);
        }
    }

    /** Streams random data for {@code millis}, returning its SHA-256. */
    private static String sendSlowly(Socket s, long millis) throws Exception {
        var sha = TestApps.sha256();
        SplittableRandom random = new SplittableRandom(7);
        byte[] buf = new byte[64 * 1024];
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (System.nanoTime() < end) {
            for (int i = 0; i < buf.length; i++) {
                buf[i] = (byte) random.nextInt();
            }
            sha.update(buf);
            s.getOutputStream().write(buf);
            Thread.sleep(2);
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    @Test
    void aReaderThatStopsReadingBoundsWhatTheProxyBuffers() throws Exception {
        CountDownLatch startReading = new CountDownLatch(1);
        AtomicReference<TestApps.Digest> received = new AtomicReference<>();
        app = new TestApps.Server(s -> {
            try {
                s.setReceiveBufferSize(64 * 1024);
                startReading.await();
                received.set(TestApps.receive(s.getInputStream()));
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        bed = new HboneTestBed(caDir);
        bed.target = app.address();
        InetSocketAddress forwarder = bed.startForwarder(bed.startServer());

        long offered = 256L << 20;
        try (SocketChannel client = SocketChannel.open(forwarder)) {
            client.configureBlocking(false);
            var sha = TestApps.sha256();
            ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
            SplittableRandom random = new SplittableRandom(3);
            long accepted = 0;
            long lastProgress = System.nanoTime();
            // Push until the whole path stops taking bytes for a second.
            while (accepted < offered && System.nanoTime() - lastProgress < TimeUnit.SECONDS.toNanos(1)) {
                if (!chunk.hasRemaining() || chunk.position() == 0) {
                    chunk.clear();
                    for (int i = 0; i < chunk.capacity(); i++) {
                        chunk.put((byte) random.nextInt());
                    }
                    chunk.flip();
                    sha.update(chunk.duplicate());
                }
                int n = client.write(chunk);
                if (n > 0) {
                    accepted += n;
                    lastProgress = System.nanoTime();
                } else {
                    Thread.sleep(5);
                }
            }
            // Kernel buffers on four sockets plus the proxies' bounded buffers (a 4 MiB HTTP/2 stream window and the
            // relays' 512 KiB high-water marks); without backpressure the proxy would have taken all 256 MiB.
            assertThat(accepted)
                    .as("bytes taken from a client whose server does not read")
                    .isLessThan(48L << 20);

            startReading.countDown();
            // The rest flows once the reader reads, intact.
            client.configureBlocking(true);
            long rest = accepted;
            while (chunk.hasRemaining()) {
                rest += client.write(chunk);
            }
            client.shutdownOutput();
            await().atMost(Duration.ofSeconds(30)).until(() -> received.get() != null);
            assertThat(received.get().bytes()).isEqualTo(rest);
            assertThat(received.get().sha256()).isEqualTo(HexFormat.of().formatHex(sha.digest()));
        }
    }
}
