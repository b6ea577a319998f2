package io.ztunnel.bench.e2e;

import io.ztunnel.xds.ErrorText;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The load generator of the end-to-end harness, run as its own process inside the client pod's network namespace
 * ({@code ip netns exec}), so its connections go through the pod's capture exactly as an application's would. Blocking
 * sockets on platform threads. Prints one {@code RESULT k=v ...} line; every loop is bounded in time or count.
 *
 * <pre>
 * tput  host port conns seconds up|down   bulk transfer; Gbit/s counted at the receiver's end
 * rr    host port samples warmup size     closed-loop request/response on one connection; latency percentiles (µs)
 * rate  host port perSecond seconds size  open loop at a fixed rate, latency from the scheduled send time
 * cps   host port threads seconds         connect, 1-byte echo, close, as fast as possible
 * hold  host port count                   opens count echo-checked connections, prints HELD, holds them until stdin ends
 * dns   host port name threads seconds    UDP A queries for name, each thread one outstanding; queries/s, latency (µs)
 * </pre>
 */
public final class LoadGen {
    private LoadGen() {}

    public static void main(String[] args) throws Exception {
        String host = args[1];
        int port = Integer.parseInt(args[2]);
        String result = switch (args[0]) {
            case "tput" ->
                tput(host, port, Integer.parseInt(args[3]), Double.parseDouble(args[4]), args[5].equals("up"));
            case "rr" ->
                rr(host, port, Integer.parseInt(args[3]), Integer.parseInt(args[4]), Integer.parseInt(args[5]));
            case "rate" ->
                rate(host, port, Integer.parseInt(args[3]), Double.parseDouble(args[4]), Integer.parseInt(args[5]));
            case "cps" -> cps(host, port, Integer.parseInt(args[3]), Double.parseDouble(args[4]));
            case "hold" -> hold(host, port, Integer.parseInt(args[3]));
            case "dns" -> dns(host, port, args[3], Integer.parseInt(args[4]), Double.parseDouble(args[5]));
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        };
        System.out.println("RESULT " + result);
        System.out.flush();
        System.exit(0);
    }

    private static Socket connect(String host, int port, int mode) throws IOException {
        Socket s = new Socket();
        s.setTcpNoDelay(true);
        s.connect(new InetSocketAddress(host, port), 10_000);
        s.setSoTimeout(30_000);
        if (mode >= 0) {
            s.getOutputStream().write(mode);
        }
        return s;
    }

    private static String tput(String host, int port, int conns, double seconds, boolean up) throws Exception {
        AtomicLong bytes = new AtomicLong();
        long[] ends = new long[conns];
        List<Thread> threads = new ArrayList<>();
        long start = System.nanoTime();
        long deadline = start + (long) (seconds * 1e9);
        for (int i = 0; i < conns; i++) {
            int index = i;
            threads.add(Thread.ofPlatform().start(() -> {
                byte[] buf = new byte[128 * 1024];
                try (Socket s = connect(host, port, up ? 'S' : 'D')) {
                    long n = 0;
                    if (up) {
                        OutputStream out = s.getOutputStream();
                        while (System.nanoTime() < deadline) {
                            out.write(buf);
                            n += buf.length;
                        }
                        s.shutdownOutput();
                        // the server closes once it has read everything: the bytes have arrived
                        while (s.getInputStream().read(buf) >= 0) {
                            // nothing expected
                        }
                    } else {
                        InputStream in = s.getInputStream();
                        int r;
                        while (System.nanoTime() < deadline && (r = in.read(buf)) >= 0) {
                            n += r;
                        }
                    }
                    ends[index] = System.nanoTime();
                    bytes.addAndGet(n);
                } catch (IOException e) {
                    ends[index] = System.nanoTime();
                    System.err.println("tput connection failed: " + ErrorText.of(e));
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        long end = Arrays.stream(ends).max().orElse(System.nanoTime());
        double secs = (end - start) / 1e9;
        return String.format(
                Locale.ROOT, "bytes=%d seconds=%.3f gbps=%.3f", bytes.get(), secs, bytes.get() * 8 / secs / 1e9);
    }

    private static String rr(String host, int port, int samples, int warmup, int size) throws IOException {
        byte[] req = new byte[size];
        byte[] resp = new byte[size];
        long[] lat = new long[samples];
        try (Socket s = connect(host, port, 'E')) {
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            if (in.read() != 'E') {
                throw new IOException("no echo greeting");
            }
            for (int i = -warmup; i < samples; i++) {
                long t0 = System.nanoTime();
                out.write(req);
                in.readNBytes(resp, 0, size);
                long t1 = System.nanoTime();
                if (i >= 0) {
                    lat[i] = t1 - t0;
                }
            }
        }
        return percentiles(lat, samples);
    }

    private static String rate(String host, int port, int perSecond, double seconds, int size) throws Exception {
        int total = (int) (perSecond * seconds);
        long period = 1_000_000_000L / perSecond;
        long[] lat = new long[total];
        try (Socket s = connect(host, port, 'E')) {
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            if (in.read() != 'E') {
                throw new IOException("no echo greeting");
            }
            long start = System.nanoTime() + 10_000_000L;
            Thread reader = Thread.ofPlatform().start(() -> {
                byte[] resp = new byte[size];
                try {
                    for (int i = 0; i < total; i++) {
                        in.readNBytes(resp, 0, size);
                        lat[i] = System.nanoTime() - (start + i * period);
                    }
                } catch (IOException e) {
                    System.err.println("rate reader failed: " + ErrorText.of(e));
                }
            });
            byte[] req = new byte[size];
            for (int i = 0; i < total; i++) {
                long due = start + i * period;
                long wait;
                while ((wait = due - System.nanoTime()) > 0) {
                    LockSupport.parkNanos(wait);
                }
                out.write(req);
            }
            reader.join(30_000);
        }
        return percentiles(lat, total);
    }

    /**
     * Closed-loop DNS: each thread keeps one A query for {@code name} outstanding on its own UDP socket (a reply
     * must carry the query's id and NOERROR); a lost reply counts as a failure after 2 s.
     */
    private static String dns(String host, int port, String name, int threads, double seconds) throws Exception {
        InetSocketAddress server = new InetSocketAddress(host, port);
        long end = System.nanoTime() + (long) (seconds * 1e9);
        long[][] latencies = new long[threads][];
        int[] counts = new int[threads];
        AtomicLong failures = new AtomicLong();
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int index = t;
            workers.add(Thread.ofPlatform().start(() -> {
                long[] lat = new long[1 << 16];
                int n = 0;
                try (DatagramSocket s = new DatagramSocket()) {
                    s.connect(server);
                    s.setSoTimeout(2000);
                    byte[] in = new byte[4096];
                    int id = index << 8;
                    while (System.nanoTime() < end) {
                        id = (id + 1) & 0xffff;
                        byte[] q = dnsQuery(id, name);
                        long t0 = System.nanoTime();
                        s.send(new DatagramPacket(q, q.length));
                        DatagramPacket reply = new DatagramPacket(in, in.length);
                        try {
                            do {
                                s.receive(reply);
                            } while (((in[0] & 0xff) << 8 | (in[1] & 0xff)) != id);
                        } catch (SocketTimeoutException e) {
                            failures.incrementAndGet();
                            continue;
                        }
                        long t1 = System.nanoTime();
                        if ((in[3] & 0x0f) != 0) {
                            failures.incrementAndGet();
                            continue;
                        }
                        if (n == lat.length) {
                            lat = Arrays.copyOf(lat, n * 2);
                        }
                        lat[n++] = t1 - t0;
                    }
                } catch (IOException e) {
                    failures.incrementAndGet();
                }
                latencies[index] = lat;
                counts[index] = n;
            }));
        }
        for (Thread w : workers) {
            w.join();
        }
        int total = Arrays.stream(counts).sum();
        long[] all = new long[total];
        int at = 0;
        for (int t = 0; t < threads; t++) {
            System.arraycopy(latencies[t], 0, all, at, counts[t]);
            at += counts[t];
        }
        return String.format(Locale.ROOT, "perSecond=%.0f failures=%d ", total / seconds, failures.get())
                + percentiles(all, total);
    }

    /** A recursion-desired A query for {@code name} (test traffic; the proxy's own codec is Netty's). */
    static byte[] dnsQuery(int id, String name) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(64);
        out.writeBytes(new byte[] {(byte) (id >> 8), (byte) id, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0});
        for (String label : name.split("\\.")) {
            out.write(label.length());
            out.writeBytes(label.getBytes(StandardCharsets.US_ASCII));
        }
        out.writeBytes(new byte[] {0, 0, 1, 0, 1});
        return out.toByteArray();
    }

    private static String percentiles(long[] lat, int n) {
        long[] sorted = Arrays.copyOf(lat, n);
        Arrays.sort(sorted);
        return String.format(
                Locale.ROOT,
                "samples=%d p50=%.1f p90=%.1f p99=%.1f p999=%.1f max=%.1f",
                n,
                at(sorted, 0.50),
                at(sorted, 0.90),
                at(sorted, 0.99),
                at(sorted, 0.999),
                sorted[n - 1] / 1e3);
    }

    private static double at(long[] sorted, double q) {
        return sorted[Math.min(sorted.length - 1, (int) Math.floor(q * sorted.length))] / 1e3;
    }

    private static String cps(String host, int port, int threads, double seconds) throws Exception {
        AtomicLong done = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        AtomicLong attempts = new AtomicLong(); // including the warm-up half second

        long warm = System.nanoTime() + 500_000_000L; // half a second not counted
        long deadline = warm + (long) (seconds * 1e9);
        List<Thread> workers = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            workers.add(Thread.ofPlatform().start(() -> {
                while (true) {
                    long now = System.nanoTime();
                    if (now >= deadline) {
                        return;
                    }
                    attempts.incrementAndGet();
                    try (Socket s = connect(host, port, 'E')) {
                        if (s.getInputStream().read() != 'E') {
                            throw new IOException("no echo");
                        }
                        if (now >= warm) {
                            done.incrementAndGet();
                        }
                    } catch (IOException e) {
                        if (now >= warm) {
                            failed.incrementAndGet();
                        }
                    }
                }
            }));
        }
        for (Thread t : workers) {
            t.join();
        }
        return String.format(
                Locale.ROOT,
                "connections=%d failed=%d perSecond=%.1f attempts=%d",
                done.get(),
                failed.get(),
                done.get() / seconds,
                attempts.get());
    }

    private static String hold(String host, int port, int count) throws IOException {
        List<Socket> open = new ArrayList<>(count);
        long start = System.nanoTime();
        int failed = 0;
        for (int i = 0; i < count; i++) {
            try {
                Socket s = connect(host, port, 'E');
                if (s.getInputStream().read() != 'E') {
                    throw new IOException("no echo");
                }
                open.add(s);
            } catch (IOException e) {
                if (failed < 3) {
                    System.err.println("hold: connection " + i + " failed: " + ErrorText.of(e));
                }
                if (++failed > 100) {
                    break;
                }
            }
        }
        System.out.printf(
                Locale.ROOT,
                "HELD open=%d failed=%d seconds=%.2f%n",
                open.size(),
                failed,
                (System.nanoTime() - start) / 1e9);
        System.out.flush();
        BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        stdin.readLine(); // until the harness says so (or goes away)
        for (Socket s : open) {
            s.close();
        }
        return "open=" + open.size() + " failed=" + failed;
    }
}
