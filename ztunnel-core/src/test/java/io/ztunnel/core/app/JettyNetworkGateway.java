package io.ztunnel.core.app;

import io.ztunnel.core.identity.Certificates;
import io.ztunnel.core.identity.WorkloadCertificate;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.concurrent.ConcurrentLinkedQueue;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.eclipse.jetty.alpn.server.ALPNServerConnectionFactory;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.http.MetaData;
import org.eclipse.jetty.http2.ErrorCode;
import org.eclipse.jetty.http2.api.Stream;
import org.eclipse.jetty.http2.api.server.ServerSessionListener;
import org.eclipse.jetty.http2.frames.DataFrame;
import org.eclipse.jetty.http2.frames.HeadersFrame;
import org.eclipse.jetty.http2.frames.ResetFrame;
import org.eclipse.jetty.http2.server.RawHTTP2ServerConnectionFactory;
import org.eclipse.jetty.io.ssl.SslHandshakeListener;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.FutureCallback;
import org.eclipse.jetty.util.ssl.SslContextFactory;

/**
 * A network gateway for tests, built on Jetty's HTTP/2 server and the JDK's TLS, independent of the daemon's HBONE
 * code: it terminates the outer HBONE CONNECT (mutual TLS, the gateway's own certificate), answers 200, and forwards
 * the stream's bytes untouched, both ways, over a TCP connection from its own IP to one fixed HBONE listener (the far
 * network's ztunnel). Half-close maps to END_STREAM and {@code shutdownOutput} each way. It records every CONNECT
 * request and the client identity of every TLS session.
 *
 * <p>The upstream sockets, bound to the gateway's IP, come from an {@link Opener}: created in this thread's network
 * namespace by default, or inside a pod's when the gateway runs in a pod of a namespaced mesh.
 *
 * <p>Threading: Jetty's threads deliver stream data and write to the upstream socket (blocking, fine for a test); one
 * virtual thread per stream copies the upstream socket into the stream, waiting for each DATA frame to be written.
 */
final class JettyNetworkGateway implements AutoCloseable {
    final ConcurrentLinkedQueue<MetaData.Request> connects = new ConcurrentLinkedQueue<>();
    final ConcurrentLinkedQueue<String> clientIdentities = new ConcurrentLinkedQueue<>();
    private final Server server = new Server();
    private final InetSocketAddress listen;
    private final InetSocketAddress forwardTo;
    private final Opener opener;

    /** Creates an upstream socket bound to {@code local}, not yet connected. */
    @FunctionalInterface
    interface Opener {
        Socket open(InetSocketAddress local) throws IOException;
    }

    /** The default {@link Opener}: a socket made and bound in the calling thread's network namespace. */
    static Socket bound(InetSocketAddress local) throws IOException {
        Socket s = new Socket();
        try {
            s.bind(local);
        } catch (IOException e) {
            closeQuietly(s);
            throw e;
        }
        return s;
    }

    JettyNetworkGateway(InetSocketAddress listen, WorkloadCertificate certificate, InetSocketAddress forwardTo)
            throws Exception {
        this(listen, certificate, forwardTo, JettyNetworkGateway::bound);
    }

    /**
     * Starts the gateway; its listening socket is created on the calling thread (in the caller's network namespace),
     * its upstream sockets by {@code opener}.
     */
    JettyNetworkGateway(
            InetSocketAddress listen, WorkloadCertificate certificate, InetSocketAddress forwardTo, Opener opener)
            throws Exception {
        this.listen = listen;
        this.forwardTo = forwardTo;
        this.opener = opener;
        SslContextFactory.Server tls = new SslContextFactory.Server();
        tls.setKeyStore(keyStore(certificate));
        tls.setKeyStorePassword("pw");
        tls.setTrustStore(trustStore(certificate));
        tls.setNeedClientAuth(true);
        tls.setIncludeProtocols("TLSv1.3");
        RawHTTP2ServerConnectionFactory h2 =
                new RawHTTP2ServerConnectionFactory(new HttpConfiguration(), new Sessions(), "h2");
        ALPNServerConnectionFactory alpn = new ALPNServerConnectionFactory("h2");
        alpn.setDefaultProtocol("h2");
        ServerConnector connector =
                new ServerConnector(server, new SslConnectionFactory(tls, alpn.getProtocol()), alpn, h2);
        connector.setHost(listen.getAddress().getHostAddress());
        connector.setPort(listen.getPort());
        connector.addBean(new SslHandshakeListener() {
            @Override
            public void handshakeSucceeded(Event event) {
                try {
                    X509Certificate peer =
                            (X509Certificate) event.getSSLEngine().getSession().getPeerCertificates()[0];
                    clientIdentities.add(Certificates.spiffeIds(peer).getFirst().toString());
                } catch (SSLPeerUnverifiedException e) {
                    clientIdentities.add("(none)");
                }
            }
        });
        server.addConnector(connector);
        server.start();
    }

    /** Accepts every CONNECT and splices it to {@code forwardTo}. */
    private final class Sessions implements ServerSessionListener {
        @Override
        public Stream.Listener onNewStream(Stream stream, HeadersFrame frame) {
            MetaData.Request request = (MetaData.Request) frame.getMetaData();
            connects.add(request);
            Socket upstream;
            try {
                upstream = opener.open(new InetSocketAddress(listen.getAddress(), 0));
            } catch (IOException e) {
                respond(stream, 503, true);
                return new Stream.Listener() {};
            }
            try {
                upstream.connect(forwardTo, 5_000);
            } catch (IOException e) {
                closeQuietly(upstream);
                respond(stream, 503, true);
                return new Stream.Listener() {};
            }
            respond(stream, 200, false);
            Thread.ofVirtual().name("gateway-upstream-reader").start(() -> copyToStream(upstream, stream));
            stream.demand();
            return new Stream.Listener() {
                @Override
                public void onDataAvailable(Stream s) {
                    Stream.Data data = s.readData();
                    if (data == null) {
                        s.demand();
                        return;
                    }
                    try {
                        ByteBuffer bytes = data.frame().getByteBuffer();
                        byte[] copy = new byte[bytes.remaining()];
                        bytes.get(copy);
                        upstream.getOutputStream().write(copy);
                        if (data.frame().isEndStream()) {
                            upstream.shutdownOutput();
                            return;
                        }
                    } catch (IOException e) {
                        closeQuietly(upstream);
                        s.reset(new ResetFrame(s.getId(), ErrorCode.CANCEL_STREAM_ERROR.code), Callback.NOOP);
                        return;
                    } finally {
                        data.release();
                    }
                    s.demand();
                }

                @Override
                public void onReset(Stream s, ResetFrame frame, Callback callback) {
                    closeQuietly(upstream);
                    callback.succeeded();
                }
            };
        }

        private static void respond(Stream stream, int status, boolean last) {
            stream.headers(
                    new HeadersFrame(
                            stream.getId(),
                            new MetaData.Response(status, null, HttpVersion.HTTP_2, HttpFields.EMPTY),
                            null,
                            last),
                    Callback.NOOP);
        }

        private static void copyToStream(Socket upstream, Stream stream) {
            byte[] buf = new byte[32 * 1024];
            try (upstream) {
                InputStream in = upstream.getInputStream();
                int n;
                while ((n = in.read(buf)) >= 0) {
                    FutureCallback written = new FutureCallback();
                    stream.data(new DataFrame(stream.getId(), ByteBuffer.wrap(buf.clone(), 0, n), false), written);
                    written.get();
                }
                FutureCallback end = new FutureCallback();
                stream.data(new DataFrame(stream.getId(), ByteBuffer.allocate(0), true), end);
                end.get();
            } catch (Exception e) {
                stream.reset(new ResetFrame(stream.getId(), ErrorCode.CANCEL_STREAM_ERROR.code), Callback.NOOP);
            }
        }
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // already closed
        }
    }

    private static KeyStore keyStore(WorkloadCertificate cert) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setKeyEntry(
                "gateway", cert.privateKey(), "pw".toCharArray(), cert.chain().toArray(new X509Certificate[0]));
        return ks;
    }

    private static KeyStore trustStore(WorkloadCertificate cert) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        for (int i = 0; i < cert.roots().size(); i++) {
            ks.setCertificateEntry("root" + i, cert.roots().get(i));
        }
        return ks;
    }

    @Override
    public void close() throws Exception {
        server.stop();
    }
}
