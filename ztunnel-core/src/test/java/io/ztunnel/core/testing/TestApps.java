package io.ztunnel.core.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;

/** Plain blocking-socket "applications" for end-to-end tests: an echo server and a scripted server. */
public final class TestApps {
    private TestApps() {}

    /** A TCP server running {@code handler} for each connection on its own thread. */
    public static final class Server implements AutoCloseable {
        public final ServerSocket socket;
        final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
        public final ConcurrentLinkedQueue<Socket> accepted = new ConcurrentLinkedQueue<>();

        public Server(Consumer<Socket> handler) throws IOException {
            this(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), handler);
        }

        public Server(InetSocketAddress bind, Consumer<Socket> handler) throws IOException {
            this(bound(bind), handler);
        }

        /** Serves on a socket bound elsewhere (e.g. inside a pod's network namespace); takes it over. */
        public Server(ServerSocket bound, Consumer<Socket> handler) {
            socket = bound;
            threads.submit(() -> {
                while (!socket.isClosed()) {
                    try {
                        Socket s = socket.accept();
                        accepted.add(s);
                        threads.submit(() -> {
                            try (s) {
                                handler.accept(s);
                            } catch (IOException ignored) {
                                // connection ended
                            }
                        });
                    } catch (IOException e) {
                        return;
                    }
                }
            });
        }

        private static ServerSocket bound(InetSocketAddress bind) throws IOException {
            ServerSocket socket = new ServerSocket();
            socket.setReuseAddress(true);
            socket.bind(bind, 4096);
            return socket;
        }

        public InetSocketAddress address() {
            return (InetSocketAddress) socket.getLocalSocketAddress();
        }

        @Override
        public void close() throws IOException {
            socket.close();
            for (Socket s : accepted) {
                s.close();
            }
            threads.shutdownNow();
        }
    }

    public static Server echo() throws IOException {
        return new Server(s -> {
            try {
                InputStream in = s.getInputStream();
                OutputStream out = s.getOutputStream();
                byte[] buf = new byte[64 * 1024];
                int n;
                while ((n = in.read(buf)) >= 0) {
                    out.write(buf, 0, n);
                }
                s.shutdownOutput();
            } catch (IOException ignored) {
                // peer went away
            }
        });
    }

    /** Writes {@code total} pseudo-random bytes from {@code seed}, returning their SHA-256. */
    public static String send(OutputStream out, long total, long seed) throws IOException {
        MessageDigest sha = sha256();
        SplittableRandom random = new SplittableRandom(seed);
        byte[] buf = new byte[256 * 1024];
        long left = total;
        while (left > 0) {
            int n = (int) Math.min(buf.length, left);
            for (int i = 0; i < n; i += 8) {
                long r = random.nextLong();
                for (int j = 0; j < 8 && i + j < n; j++) {
                    buf[i + j] = (byte) (r >>> (8 * j));
                }
            }
            sha.update(buf, 0, n);
            out.write(buf, 0, n);
            left -= n;
        }
        out.flush();
        return HexFormat.of().formatHex(sha.digest());
    }

    /** Reads to EOF, returning the SHA-256 and the byte count. */
    public static Digest receive(InputStream in) throws IOException {
        MessageDigest sha = sha256();
        byte[] buf = new byte[256 * 1024];
        long total = 0;
        int n;
        while ((n = in.read(buf)) >= 0) {
            sha.update(buf, 0, n);
            total += n;
        }
        return new Digest(HexFormat.of().formatHex(sha.digest()), total);
    }

    public record Digest(String sha256, long bytes) {}

    public static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
