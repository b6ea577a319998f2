package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import io.ztunnel.cni.linux.SocketOptions;
import io.ztunnel.core.net.Transport;
import java.io.IOException;
import java.net.Socket;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code KEEPALIVE_*} and {@code USER_TIMEOUT_ENABLED} on the sockets a proxied connection really uses, read back
 * from the kernel (getsockopt on the sockets' descriptors, found through {@code /proc/self}): the client daemon's dial
 * to the peer's HBONE port and the server daemon's connect to the app carry them, the socket the HBONE listener
 * accepted does not (as upstream, which sets no options there).
 */
@Timeout(120)
class SocketKeepaliveTest {
    private static final int SOL_SOCKET = 1;
    private static final int SO_KEEPALIVE = 9;
    private static final int IPPROTO_TCP = 6;
    private static final int TCP_KEEPIDLE = 4;
    private static final int TCP_KEEPINTVL = 5;
    private static final int TCP_KEEPCNT = 6;
    private static final int TCP_USER_TIMEOUT = 18;

    @TempDir
    Path dir;

    /** The mesh the test started, closed after it. */
    private @Nullable MeshFixture started;

    @AfterEach
    void tearDown() throws Exception {
        if (started != null) {
            started.close();
        }
    }

    private MeshFixture startMesh(Map<String, String> clientExtra, Map<String, String> serverExtra) throws Exception {
        MeshFixture mesh = new MeshFixture(dir, clientExtra, serverExtra);
        started = mesh;
        return mesh;
    }

    /** What getsockopt says about one socket. */
    record Options(boolean keepalive, int idle, int interval, int count, int userTimeoutMillis) {}

    @Test
    void configuredKeepaliveAndUserTimeoutAreOnTheDialAndTheAppConnectButNotOnTheAcceptedHboneSocket()
            throws Exception {
        assumeThat(Transport.best().isEpoll())
                .as("socket timings are set through epoll")
                .isTrue();
        Map<String, String> env = Map.of(
                "KEEPALIVE_TIME", "42s",
                "KEEPALIVE_INTERVAL", "7s",
                "KEEPALIVE_RETRIES", "3",
                "USER_TIMEOUT_ENABLED", "true");
        MeshFixture mesh = startMesh(env, env);
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
            Options expected = new Options(true, 42, 7, 3, (42 + 3 * 7) * 1000);
            assertThat(established(port -> port.remote() == 15008)).containsOnly(expected);
            assertThat(established(port -> port.remote() == 8080)).containsOnly(expected);
            assertThat(established(port -> port.local() == 15008)).isNotEmpty().allSatisfy(o -> {
                assertThat(o.keepalive()).isFalse();
                assertThat(o.userTimeoutMillis()).isZero();
            });
        }
    }

    @Test
    void keepaliveOffLeavesTheUserTimeoutAndUpstreamDefaultsApplyOtherwise() throws Exception {
        assumeThat(Transport.best().isEpoll())
                .as("socket timings are set through epoll")
                .isTrue();
        MeshFixture mesh = startMesh(Map.of("KEEPALIVE_ENABLED", "false", "USER_TIMEOUT_ENABLED", "true"), Map.of());
        try (Socket s = mesh.connect("127.0.0.3", 8080)) {
            assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
            // Client daemon: keepalive off, user timeout on (180 s + 9 x 180 s).
            assertThat(established(port -> port.remote() == 15008))
                    .singleElement()
                    .satisfies(o -> {
                        assertThat(o.keepalive()).isFalse();
                        assertThat(o.userTimeoutMillis()).isEqualTo((180 + 9 * 180) * 1000);
                    });
            // Server daemon: upstream's defaults, no user timeout.
            assertThat(established(port -> port.remote() == 8080)).containsOnly(new Options(true, 180, 180, 9, 0));
        }
    }

    record Ports(int local, int remote) {}

    /** Options of this process's established TCP sockets whose ports match. */
    private static List<Options> established(Predicate<Ports> which) throws IOException {
        Map<Long, Ports> byInode = new HashMap<>();
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            List<String> lines = Files.readAllLines(Path.of(table));
            for (String line : lines.subList(1, lines.size())) {
                String[] f = line.trim().split("\\s+");
                if (!f[3].equals("01")) { // ESTABLISHED
                    continue;
                }
                byInode.put(Long.parseLong(f[9]), new Ports(port(f[1]), port(f[2])));
            }
        }
        List<Options> out = new ArrayList<>();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path fd : fds) {
                String target;
                try {
                    target = Files.readSymbolicLink(fd).toString();
                } catch (IOException e) {
                    continue; // closed meanwhile
                }
                if (!target.startsWith("socket:[")) {
                    continue;
                }
                Ports ports = byInode.get(Long.parseLong(target.substring(8, target.length() - 1)));
                if (ports != null && which.test(ports)) {
                    int n = Integer.parseInt(fd.getFileName().toString());
                    out.add(new Options(
                            SocketOptions.getInt(n, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE") != 0,
                            SocketOptions.getInt(n, IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE"),
                            SocketOptions.getInt(n, IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL"),
                            SocketOptions.getInt(n, IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT"),
                            SocketOptions.getInt(n, IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT")));
                }
            }
        }
        return out;
    }

    private static int port(String hexAddress) {
        return Integer.parseInt(hexAddress.substring(hexAddress.indexOf(':') + 1), 16);
    }
}
