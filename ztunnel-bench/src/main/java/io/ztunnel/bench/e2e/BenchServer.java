package io.ztunnel.bench.e2e;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The server application of the end-to-end harness, run as its own process inside a server pod's network namespace
 * ({@code ip netns exec}), so the load generator, the daemons and this server each have their own file-descriptor
 * budget. Listens on {@code <ip>:<port>}; the first byte a client sends picks the mode:
 * <ul>
 *   <li>{@code S} sink: read and discard until EOF, then close (upload throughput);
 *   <li>{@code D} source: write 128 KiB chunks until the client goes away (download throughput);
 *   <li>{@code E} echo: answer {@code E}, then echo everything (latency, connection rate, idle connections).
 * </ul>
 * One virtual thread per connection, blocking I/O.
 */
public final class BenchServer {
    private BenchServer() {}

    public static void main(String[] args) throws IOException {
        InetAddress ip = InetAddress.getByName(args[0]);
        int port = Integer.parseInt(args[1]);
        ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
        try (ServerSocket listener = new ServerSocket()) {
            listener.setReuseAddress(true);
            listener.bind(new InetSocketAddress(ip, port), 4096);
            System.out.println("listening " + ip.getHostAddress() + ":" + port);
            System.out.flush();
            while (true) {
                Socket s = listener.accept();
                threads.execute(() -> serve(s));
            }
        }
    }

    private static void serve(Socket s) {
        try (s) {
            s.setTcpNoDelay(true);
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            int mode = in.read();
            // bulk modes get a large buffer; echo connections (up to 10,000 held open at once) a small one
            byte[] buf = new byte[mode == 'E' ? 8192 : 128 * 1024];
            switch (mode) {
                case 'S' -> {
                    while (in.read(buf) >= 0) {
                        // discard
                    }
                }
                case 'D' -> {
                    while (true) {
                        out.write(buf);
                    }
                }
                case 'E' -> {
                    out.write('E');
                    out.flush();
                    int n;
                    while ((n = in.read(buf)) >= 0) {
                        out.write(buf, 0, n);
                    }
                }
                default -> {
                    // EOF or unknown mode: close
                }
            }
        } catch (IOException e) {
            // the client went away: a normal end here
        }
    }
}
