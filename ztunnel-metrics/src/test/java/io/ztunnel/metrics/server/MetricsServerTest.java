package io.ztunnel.metrics.server;

import static io.ztunnel.metrics.StrictExpositionParser.requireFamily;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.nio.NioIoHandler;
import io.ztunnel.metrics.ExpositionFormat;
import io.ztunnel.metrics.Reporter;
import io.ztunnel.metrics.ResponseFlags;
import io.ztunnel.metrics.StrictExpositionParser;
import io.ztunnel.metrics.TrafficLabels;
import io.ztunnel.metrics.TrafficSeries;
import io.ztunnel.metrics.ZtunnelMetrics;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The scrape server over real loopback HTTP: paths, methods, formats, gzip, keep-alive, timeouts, binding. */
@Timeout(60)
class MetricsServerTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    private final ZtunnelMetrics metrics =
            ZtunnelMetrics.builder().buildTag("test").build();
    // Epoll, as the daemon runs it; closeReleasesThePortOnNio covers the NIO transport's close.
    private final EventLoopGroup control = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    private @Nullable MetricsServer server;

    @AfterEach
    void tearDown() throws Exception {
        if (server != null) {
            server.close();
        }
        http.close();
        control.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        metrics.close();
    }

    private InetSocketAddress start(MetricsServer.Builder builder) throws Exception {
        server = builder.build();
        return server.start();
    }

    private InetSocketAddress startOnLoopback() throws Exception {
        return start(MetricsServer.builder(metrics, control).address(LOOPBACK).port(0));
    }

    private HttpResponse<byte[]> get(InetSocketAddress at, String path, Map<String, String> headers) throws Exception {
        HttpRequest.Builder req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + at.getPort() + path))
                .timeout(Duration.ofSeconds(10));
        headers.forEach(req::header);
        return http.send(req.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    @Test
    void servesPrometheusTextOnBothPaths() throws Exception {
        TrafficSeries conn = metrics.traffic()
                .open(
                        TrafficLabels.builder(Reporter.SOURCE)
                                .sourceWorkload("web")
                                .build(),
                        Set.of("pod/web"));
        conn.addSent(77);
        InetSocketAddress at = startOnLoopback();

        for (String path : new String[] {"/metrics", "/stats/prometheus", "/metrics?foo=bar"}) {
            HttpResponse<byte[]> res = get(at, path, Map.of());
            assertThat(res.statusCode()).as(path).isEqualTo(200);
            assertThat(res.headers().firstValue("content-type")).hasValue("text/plain; version=0.0.4; charset=utf-8");
            assertThat(res.headers().firstValue("content-encoding")).isEmpty();
            String body = new String(res.body(), StandardCharsets.UTF_8);
            var families = StrictExpositionParser.parse(body, ExpositionFormat.PROMETHEUS_TEXT);
            assertThat(requireFamily(families, "istio_tcp_sent_bytes_total")
                            .samples()
                            .getFirst()
                            .value())
                    .isEqualTo(77);
        }
        conn.close(ResponseFlags.NONE);
    }

    @Test
    void servesOpenMetricsWhenTheScraperAsksForIt() throws Exception {
        InetSocketAddress at = startOnLoopback();
        HttpResponse<byte[]> res = get(
                at,
                "/metrics",
                Map.of(
                        "Accept",
                        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"));

        assertThat(res.statusCode()).isEqualTo(200);
        assertThat(res.headers().firstValue("content-type"))
                .hasValue("application/openmetrics-text; version=1.0.0; charset=utf-8");
        String body = new String(res.body(), StandardCharsets.UTF_8);
        assertThat(body).endsWith("# EOF\n");
        assertThat(StrictExpositionParser.parse(body, ExpositionFormat.OPENMETRICS))
                .containsKey("istio_build");
    }

    @Test
    void compressesWithGzipWhenAccepted() throws Exception {
        InetSocketAddress at = startOnLoopback();
        HttpResponse<byte[]> res = get(at, "/stats/prometheus", Map.of("Accept-Encoding", "gzip"));

        assertThat(res.statusCode()).isEqualTo(200);
        assertThat(res.headers().firstValue("content-encoding")).hasValue("gzip");
        String body;
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(res.body()))) {
            body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertThat(res.body().length).isLessThan(body.length());
        assertThat(StrictExpositionParser.parse(body, ExpositionFormat.PROMETHEUS_TEXT))
                .containsKey("istio_build");
    }

    @Test
    void unknownPathsAre404AndOtherMethodsAre405() throws Exception {
        InetSocketAddress at = startOnLoopback();
        assertThat(get(at, "/", Map.of()).statusCode()).isEqualTo(404);
        assertThat(get(at, "/metricsx", Map.of()).statusCode()).isEqualTo(404);
        assertThat(get(at, "/stats", Map.of()).statusCode()).isEqualTo(404);

        HttpResponse<String> post = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + at.getPort() + "/metrics"))
                        .POST(HttpRequest.BodyPublishers.ofString("x"))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(post.statusCode()).isEqualTo(405);
        assertThat(post.headers().firstValue("allow")).hasValue("GET, HEAD");

        HttpResponse<String> delete = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + at.getPort() + "/nope"))
                        .DELETE()
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(delete.statusCode()).isEqualTo(404);
    }

    @Test
    void headAnswersWithHeadersOnly() throws Exception {
        InetSocketAddress at = startOnLoopback();
        HttpResponse<byte[]> res = http.send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + at.getPort() + "/metrics"))
                        .method("HEAD", HttpRequest.BodyPublishers.noBody())
                        .header("Accept-Encoding", "gzip")
                        .build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertThat(res.statusCode()).isEqualTo(200);
        assertThat(res.body()).isEmpty();
        assertThat(res.headers().firstValueAsLong("content-length").orElseThrow())
                .isPositive();
        assertThat(res.headers().firstValue("content-type")).hasValue(ExpositionFormat.PROMETHEUS_TEXT.contentType());
    }

    @Test
    void keepsTheConnectionAliveAcrossScrapes() throws Exception {
        InetSocketAddress at = startOnLoopback();
        try (Socket socket = new Socket(LOOPBACK, at.getPort())) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            for (String encoding : new String[] {"identity", "gzip", "identity"}) {
                out.write(("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: " + encoding + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.flush();
                RawResponse res = RawResponse.read(in);
                assertThat(res.status).isEqualTo(200);
                assertThat(res.headers.get("connection")).isNotEqualTo("close");
                byte[] body = res.body;
                if (encoding.equals("gzip")) {
                    assertThat(res.headers.get("content-encoding")).isEqualTo("gzip");
                    body = new GZIPInputStream(new ByteArrayInputStream(body)).readAllBytes();
                }
                assertThat(new String(body, StandardCharsets.UTF_8)).contains("istio_build{");
            }
        }
    }

    @Test
    void cutsOffAClientThatTricklesItsHeaders() throws Exception {
        InetSocketAddress at = start(MetricsServer.builder(metrics, control)
                .address(LOOPBACK)
                .port(0)
                .headerReadTimeout(Duration.ofMillis(300)));
        try (Socket socket = new Socket(LOOPBACK, at.getPort())) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write("GET /metrics HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
            socket.getOutputStream().flush();
            // The head never completes: the server closes without answering.
            assertThat(readToEnd(socket.getInputStream())).isEmpty();
        }
    }

    @Test
    void theHeaderTimerStartsWithTheFirstByteNotTheConnection() throws Exception {
        InetSocketAddress at = start(MetricsServer.builder(metrics, control)
                .address(LOOPBACK)
                .port(0)
                .headerReadTimeout(Duration.ofMillis(200)));
        try (Socket socket = new Socket(LOOPBACK, at.getPort())) {
            socket.setSoTimeout(10_000);
            Thread.sleep(600); // an idle kept-alive connection, as between two scrapes
            socket.getOutputStream()
                    .write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(RawResponse.read(socket.getInputStream()).status).isEqualTo(200);
        }
    }

    @Test
    void closesIdleConnectionsAfterTheIdleTimeout() throws Exception {
        InetSocketAddress at = start(MetricsServer.builder(metrics, control)
                .address(LOOPBACK)
                .port(0)
                .idleTimeout(Duration.ofMillis(300)));
        try (Socket socket = new Socket(LOOPBACK, at.getPort())) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream()
                    .write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(RawResponse.read(socket.getInputStream()).status).isEqualTo(200);
            assertThat(readToEnd(socket.getInputStream())).isEmpty(); // closed after going idle
        }
    }

    @Test
    void rejectsMalformedAndOversizedRequests() throws Exception {
        InetSocketAddress at = startOnLoopback();
        try (Socket socket = new Socket(LOOPBACK, at.getPort())) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream()
                    .write(("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(10_000) + "\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            RawResponse res = RawResponse.read(socket.getInputStream());
            assertThat(res.status).isEqualTo(431);
            assertThat(readToEnd(socket.getInputStream())).isEmpty();
        }
        try (Socket socket = new Socket(LOOPBACK, at.getPort())) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream()
                    .write("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                            .getBytes(StandardCharsets.US_ASCII));
            assertThat(RawResponse.read(socket.getInputStream()).status).isEqualTo(413);
        }
    }

    @Test
    void closeEndsKeptAliveConnections() throws Exception {
        InetSocketAddress at = startOnLoopback();
        try (Socket socket = new Socket(LOOPBACK, at.getPort())) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream()
                    .write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            assertThat(RawResponse.read(socket.getInputStream()).status).isEqualTo(200);
            Objects.requireNonNull(server, "started above").close();
            assertThat(readToEnd(socket.getInputStream())).isEmpty();
        }
        assertThatThrownBy(() -> new Socket(LOOPBACK, at.getPort()).close()).isInstanceOf(ConnectException.class);
    }

    @Test
    void closeReleasesThePortOnNio() throws Exception {
        // The JDK defers closing a NIO listener that is still registered with a selector until the selector's next
        // pass; before close() waited for that, "refused right after close()" failed in about half of the rounds.
        EventLoopGroup nio = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            for (int round = 0; round < 20; round++) {
                MetricsServer s = MetricsServer.builder(metrics, nio)
                        .address(LOOPBACK)
                        .port(0)
                        .build();
                InetSocketAddress at;
                try (Socket socket = new Socket(LOOPBACK, (at = s.start()).getPort())) {
                    socket.setSoTimeout(10_000);
                    socket.getOutputStream()
                            .write("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    assertThat(RawResponse.read(socket.getInputStream()).status).isEqualTo(200);
                    s.close();
                    assertThat(readToEnd(socket.getInputStream())).isEmpty();
                }
                int port = at.getPort();
                assertThatThrownBy(() -> new Socket(LOOPBACK, port).close())
                        .as("connect right after close(), round %d", round)
                        .isInstanceOf(ConnectException.class);
            }
        } finally {
            nio.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    @Test
    void closeAfterItsNioGroupIsGoneReturnsQuietly() throws Exception {
        EventLoopGroup nio = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        MetricsServer s =
                MetricsServer.builder(metrics, nio).address(LOOPBACK).port(0).build();
        s.start();
        nio.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync(); // the daemon may stop its groups first
        // Nothing left to wait on: the port is the group's to release as it goes (not asserted here).
        assertThatCode(s::close).doesNotThrowAnyException();
    }

    @Test
    void bindsTheWildcardByDefault() throws Exception {
        InetSocketAddress at = start(MetricsServer.builder(metrics, control).port(0));
        assertThat(at.getAddress().isAnyLocalAddress()).isTrue();
        assertThat(get(at, "/metrics", Map.of()).statusCode()).isEqualTo(200);
    }

    @Test
    void fallsBackToIpv4WhenIpv6CannotBeBound() throws Exception {
        List<String> attempts = new ArrayList<>();
        InetSocketAddress at =
                start(MetricsServer.builder(metrics, control).port(0).binder((bootstrap, address) -> {
                    attempts.add(address.getAddress().getHostAddress());
                    if (address.getAddress() instanceof Inet6Address) {
                        throw new SocketException("Address family not supported by protocol");
                    }
                    return bootstrap.bind(address).sync().channel();
                }));
        // (A dual-stack JDK socket reports 0.0.0.0 as [::]; the attempts show what was asked for.)
        assertThat(attempts).containsExactly("0:0:0:0:0:0:0:0", "0.0.0.0");
        assertThat(get(at, "/metrics", Map.of()).statusCode()).isEqualTo(200);
    }

    @Test
    void doesNotFallBackFromAnExplicitAddress() {
        MetricsServer failing = MetricsServer.builder(metrics, control)
                .address(LOOPBACK)
                .port(0)
                .binder((bootstrap, address) -> {
                    throw new SocketException("nope");
                })
                .build();
        server = failing;
        assertThatThrownBy(failing::start).isInstanceOf(SocketException.class).hasMessage("nope");
    }

    @Test
    void reportsAPortInUse() throws Exception {
        InetSocketAddress at = startOnLoopback();
        MetricsServer second = MetricsServer.builder(metrics, control)
                .address(LOOPBACK)
                .port(at.getPort())
                .build();
        assertThatThrownBy(second::start).isInstanceOf(Exception.class);
        second.close();
    }

    @Test
    void servesOnAnEpollControlGroup() throws Exception {
        assumeTrue(Epoll.isAvailable(), "native epoll unavailable");
        EventLoopGroup epoll = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        try {
            MetricsServer s = MetricsServer.builder(metrics, epoll)
                    .address(LOOPBACK)
                    .port(0)
                    .build();
            try {
                InetSocketAddress at = s.start();
                HttpResponse<byte[]> res = get(at, "/metrics", Map.of("Accept-Encoding", "gzip"));
                assertThat(res.statusCode()).isEqualTo(200);
                assertThat(res.headers().firstValue("content-encoding")).hasValue("gzip");
            } finally {
                s.close();
            }
        } finally {
            epoll.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
        }
    }

    private static byte[] readToEnd(InputStream in) throws IOException {
        return in.readAllBytes(); // returns once the server closes; SO_TIMEOUT bounds a hang
    }

    /** A minimal HTTP/1.1 response reader for Content-Length framed responses. */
    static final class RawResponse {
        int status;
        final Map<String, String> headers = new LinkedHashMap<>();
        byte[] body = new byte[0];

        static RawResponse read(InputStream in) throws IOException {
            RawResponse r = new RawResponse();
            String statusLine = line(in);
            r.status = Integer.parseInt(statusLine.split(" ")[1]);
            for (String l = line(in); !l.isEmpty(); l = line(in)) {
                int colon = l.indexOf(':');
                r.headers.put(
                        l.substring(0, colon).trim().toLowerCase(Locale.ROOT),
                        l.substring(colon + 1).trim());
            }
            int length = Integer.parseInt(r.headers.getOrDefault("content-length", "0"));
            r.body = in.readNBytes(length);
            assertThat(r.body).hasSize(length);
            return r;
        }

        private static String line(InputStream in) throws IOException {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            int c;
            while ((c = in.read()) != '\n') {
                if (c < 0) {
                    throw new IOException("connection closed mid-response");
                }
                if (c != '\r') {
                    buf.write(c);
                }
            }
            return buf.toString(StandardCharsets.US_ASCII);
        }
    }
}
