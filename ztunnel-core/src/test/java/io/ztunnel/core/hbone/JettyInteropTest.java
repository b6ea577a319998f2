package io.ztunnel.core.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.ztunnel.core.identity.WorkloadCertificate;
import io.ztunnel.core.testing.TestApps;
import io.ztunnel.core.util.Errors;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.alpn.server.ALPNServerConnectionFactory;
import org.eclipse.jetty.http.HostPortHttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.http.MetaData;
import org.eclipse.jetty.http2.api.Session;
import org.eclipse.jetty.http2.api.Stream;
import org.eclipse.jetty.http2.api.server.ServerSessionListener;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.frames.DataFrame;
import org.eclipse.jetty.http2.frames.GoAwayFrame;
import org.eclipse.jetty.http2.frames.HeadersFrame;
import org.eclipse.jetty.http2.server.RawHTTP2ServerConnectionFactory;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * HBONE against an independent HTTP/2 and TLS implementation (Jetty's HTTP/2 with the JDK's TLS stack), in both
 * directions: Jetty as the CONNECT client of our inbound server, and Jetty as the CONNECT server of our pool.
 */
@Timeout(60)
class JettyInteropTest {
    @TempDir
    Path caDir;

    // Set by each test before use; the teardown closes what was set.
    @SuppressWarnings("NullAway.Init")
    private HboneTestBed bed;

    @SuppressWarnings("NullAway.Init")
    private TestApps.Server app;

    @SuppressWarnings("NullAway.Init")
    private HTTP2Client jettyClient;

    @SuppressWarnings("NullAway.Init")
    private Server jettyServer;

    @AfterEach
    void tearDown() throws Exception {
        if (jettyClient != null) {
            jettyClient.stop();
        }
        if (jettyServer != null) {
            jettyServer.stop();
        }
        if (bed != null) {
            bed.close();
        }
        if (app != null) {
            app.close();
        }
    }

    private static KeyStore keyStore(WorkloadCertificate cert) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setKeyEntry(
                "workload", cert.privateKey(), "pw".toCharArray(), cert.chain().toArray(new X509Certificate[0]));
        return ks;
    }

    private static KeyStore trustStore(List<X509Certificate> roots) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        for (int i = 0; i < roots.size(); i++) {
            ks.setCertificateEntry("root" + i, roots.get(i));
        }
        return ks;
    }

    private Session jettyClientSession(InetSocketAddress hbone, String... cipherSuites) throws Exception {
        return jettyClientSession(hbone, new Session.Listener() {}, cipherSuites);
    }

    private Session jettyClientSession(InetSocketAddress hbone, Session.Listener listener, String... cipherSuites)
            throws Exception {
        WorkloadCertificate cert =
                bed.certs.fetch(HboneTestBed.CLIENT).get(10, TimeUnit.SECONDS).certificate();
        SslContextFactory.Client tls = new SslContextFactory.Client();
        tls.setKeyStore(keyStore(cert));
        tls.setKeyStorePassword("pw");
        tls.setTrustStore(trustStore(cert.roots()));
        tls.setEndpointIdentificationAlgorithm(null);
        tls.setIncludeProtocols("TLSv1.3");
        if (cipherSuites.length > 0) {
            tls.setIncludeCipherSuites(cipherSuites);
        }
        ClientConnector connector = new ClientConnector();
        connector.setSslContextFactory(tls);
        jettyClient = new HTTP2Client(connector);
        jettyClient.start();
        return jettyClient.connect(tls, hbone, listener).get(10, TimeUnit.SECONDS);
    }

    @Test
    void jettyClientTunnelsThroughOurInboundServer() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(caDir);
        InetSocketAddress hbone = bed.startServer();
        Session session = jettyClientSession(hbone);

        CompletableFuture<Integer> status = new CompletableFuture<>();
        ByteArrayOutputStream echoed = new ByteArrayOutputStream();
        CompletableFuture<Void> ended = new CompletableFuture<>();
        HttpFields.Mutable fields = HttpFields.build().put("baggage", "k8s.namespace.name=jetty");
        MetaData.ConnectRequest connect = new MetaData.ConnectRequest(
                (String) null,
                new HostPortHttpField("127.0.0.1:" + app.address().getPort()),
                null,
                fields,
                null);
        Stream stream = session.newStream(new HeadersFrame(connect, null, false), new Stream.Listener() {
                    @Override
                    public void onHeaders(Stream s, HeadersFrame frame) {
                        status.complete(((MetaData.Response) frame.getMetaData()).getStatus());
                        s.demand();
                    }

                    @Override
                    public void onDataAvailable(Stream s) {
                        Stream.Data data = s.readData();
                        if (data == null) {
                            s.demand();
                            return;
                        }
                        ByteBuffer bytes = data.frame().getByteBuffer();
                        byte[] copy = new byte[bytes.remaining()];
                        bytes.get(copy);
                        echoed.writeBytes(copy);
                        boolean last = data.frame().isEndStream();
                        data.release();
                        if (last) {
                            ended.complete(null);
                        } else {
                            s.demand();
                        }
                    }
                })
                .get(10, TimeUnit.SECONDS);

        assertThat(status.get(10, TimeUnit.SECONDS)).isEqualTo(200);
        stream.data(new DataFrame(stream.getId(), ByteBuffer.wrap("over jetty".getBytes()), true))
                .get(10, TimeUnit.SECONDS);
        ended.get(10, TimeUnit.SECONDS);
        assertThat(echoed.toString(StandardCharsets.US_ASCII)).isEqualTo("over jetty");
        InboundRequest seen = bed.requests.peek();
        assertThat(seen.peerIdentity()).isEqualTo(HboneTestBed.CLIENT);
        assertThat(seen.baggage().namespace()).isEqualTo("jetty");
    }

    @Test
    void jettyClientGets400ForAnAuthorityWithoutPort() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(caDir);
        Session session = jettyClientSession(bed.startServer());
        CompletableFuture<Integer> status = new CompletableFuture<>();
        MetaData.ConnectRequest connect = new MetaData.ConnectRequest(
                (String) null,
                new HostPortHttpField("reviews.default.svc.cluster.local"),
                null,
                HttpFields.EMPTY,
                null);
        session.newStream(new HeadersFrame(connect, null, false), new Stream.Listener() {
            @Override
            public void onHeaders(Stream s, HeadersFrame frame) {
                status.complete(((MetaData.Response) frame.getMetaData()).getStatus());
            }
        });
        assertThat(status.get(10, TimeUnit.SECONDS)).isEqualTo(400);
        assertThat(bed.routed).hasValue(0);
    }

    @Test
    void aClientOfferingOnlyChaCha20IsRefused() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(caDir);
        InetSocketAddress hbone = bed.startServer();
        Logger serverLog = (Logger) LoggerFactory.getLogger(HboneServer.class);
        ListAppender<ILoggingEvent> logs = new ListAppender<>();
        logs.start();
        serverLog.addAppender(logs);
        try {
            // BoringSSL cannot turn ChaCha20 off for TLS 1.3, so the handshake completes; the server must then close
            // the connection before any HTTP/2 is spoken, and say why.
            CompletableFuture<String> ended = new CompletableFuture<>();
            Session.Listener listener = new Session.Listener() {
                @Override
                public void onClose(Session session, GoAwayFrame frame, Callback callback) {
                    ended.complete("closed");
                    callback.succeeded();
                }

                @Override
                public void onFailure(Session session, Throwable failure, Callback callback) {
                    ended.complete("failed: " + Errors.message(failure));
                    callback.succeeded();
                }
            };
            try {
                jettyClientSession(hbone, listener, "TLS_CHACHA20_POLY1305_SHA256");
            } catch (ExecutionException e) {
                // Closed before the client's session was set up: the same refusal, seen earlier.
                assertThat(e).hasCauseInstanceOf(IOException.class);
                ended.complete("connect failed: " + Errors.message(e));
            }
            assertThat(ended.get(10, TimeUnit.SECONDS))
                    .as("the server ends the connection")
                    .isNotNull();
            await().atMost(Duration.ofSeconds(5))
                    .untilAsserted(() -> assertThat(List.copyOf(logs.list)).anySatisfy(e -> {
                        assertThat(e.getFormattedMessage()).isEqualTo("inbound TLS connection refused");
                        assertThat(e.getKeyValuePairs())
                                .anySatisfy(kv -> assertThat(kv.key + "=" + kv.value)
                                        .isEqualTo("error=TLS 1.3 cipher suite TLS_CHACHA20_POLY1305_SHA256"
                                                + " is not allowed (only AES-GCM)"));
                    }));
        } finally {
            serverLog.detachAppender(logs);
        }
        assertThat(bed.routed).hasValue(0);
        assertThat(app.accepted).isEmpty();
    }

    @Test
    void ourPoolTunnelsThroughAJettyServer() throws Exception {
        app = TestApps.echo();
        bed = new HboneTestBed(caDir);
        WorkloadCertificate serverCert =
                bed.certs.fetch(HboneTestBed.SERVER).get(10, TimeUnit.SECONDS).certificate();
        ConcurrentLinkedQueue<MetaData.Request> seen = new ConcurrentLinkedQueue<>();

        SslContextFactory.Server tls = new SslContextFactory.Server();
        tls.setKeyStore(keyStore(serverCert));
        tls.setKeyStorePassword("pw");
        tls.setTrustStore(trustStore(serverCert.roots()));
        tls.setNeedClientAuth(true);
        tls.setIncludeProtocols("TLSv1.3");
        jettyServer = new Server();
        RawHTTP2ServerConnectionFactory h2 = new RawHTTP2ServerConnectionFactory(
                new HttpConfiguration(),
                new ServerSessionListener() {
                    @Override
                    public Stream.Listener onNewStream(Stream stream, HeadersFrame frame) {
                        seen.add((MetaData.Request) frame.getMetaData());
                        stream.headers(
                                new HeadersFrame(
                                        stream.getId(),
                                        new MetaData.Response(200, null, HttpVersion.HTTP_2, HttpFields.EMPTY),
                                        null,
                                        false),
                                Callback.NOOP);
                        stream.demand();
                        return new Stream.Listener() {
                            @Override
                            public void onDataAvailable(Stream s) {
                                Stream.Data data = s.readData();
                                if (data == null) {
                                    s.demand();
                                    return;
                                }
                                ByteBuffer in = data.frame().getByteBuffer();
                                ByteBuffer copy = ByteBuffer.allocate(in.remaining())
                                        .put(in)
                                        .flip();
                                boolean last = data.frame().isEndStream();
                                data.release();
                                s.data(
                                        new DataFrame(s.getId(), copy, last),
                                        Callback.from(
                                                () -> {
                                                    if (!last) {
                                                        s.demand();
                                                    }
                                                },
                                                Throwable::printStackTrace));
                            }
                        };
                    }
                },
                "h2");
        ALPNServerConnectionFactory alpn = new ALPNServerConnectionFactory("h2");
        alpn.setDefaultProtocol("h2");
        ServerConnector connector =
                new ServerConnector(jettyServer, new SslConnectionFactory(tls, alpn.getProtocol()), alpn, h2);
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        jettyServer.addConnector(connector);
        jettyServer.start();

        bed.target = app.address(); // the authority we send; Jetty echoes instead of connecting
        InetSocketAddress forwarder = bed.startForwarder(new InetSocketAddress("127.0.0.1", connector.getLocalPort()));
        try (Socket s = new Socket(forwarder.getAddress(), forwarder.getPort())) {
            s.getOutputStream().write("from netty to jetty".getBytes());
            s.shutdownOutput();
            assertThat(new String(s.getInputStream().readAllBytes())).isEqualTo("from netty to jetty");
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> !seen.isEmpty());
        MetaData.Request request = seen.peek();
        assertThat(request.getMethod()).isEqualTo("CONNECT");
        assertThat(request.getHttpURI().getAuthority())
                .isEqualTo("127.0.0.1:" + app.address().getPort());
        assertThat(request.getHttpFields().get("traceparent")).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-00");
        assertThat(request.getHttpFields().get("forwarded")).startsWith("for=\"127.0.0.1:");
        assertThat(request.getHttpFields().get("baggage")).contains("k8s.namespace.name=client");
    }
}
