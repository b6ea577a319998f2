package io.ztunnel.core.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;

/**
 * An echo server as a process of its own ({@code EchoServerMain <ip> <port>}), for tests that hold more connections
 * than one process's descriptors allow: the JVM raises its descriptor limit to the hard limit, and the server's
 * sockets no longer count against the test's. Prints {@code listening} once bound; one virtual thread per connection
 * echoes until the peer's end of stream, then closes.
 */
public final class EchoServerMain {
    private EchoServerMain() {}

    public static void main(String[] args) throws IOException {
        try (ServerSocket server = new ServerSocket()) {
            server.bind(new InetSocketAddress(InetAddress.getByName(args[0]), Integer.parseInt(args[1])), 4096);
            System.out.println("listening");
            System.out.flush();
            while (true) {
                Socket s = server.accept();
                Thread.ofVirtual().start(() -> echo(s));
            }
        }
    }

    private static void echo(Socket s) {
        try (s;
                InputStream in = s.getInputStream();
                OutputStream out = s.getOutputStream()) {
            in.transferTo(out);
        } catch (IOException e) {
            // A reset from the peer ends this connection only; the test judges the client's side.
        }
    }
}
