package io.ztunnel.core.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * A byte bridge from plaintext to mutual TLS, for HTTP/2 tools that cannot present a client certificate (h2spec): it
 * accepts plain TCP on loopback (an h2c prior-knowledge client), opens a TLS 1.3 connection with ALPN {@code h2} and
 * the given workload certificate to the target, and copies bytes both ways without looking at them. Built on the
 * JDK's TLS stack, so nothing of the server under test is reused on this side.
 *
 * <p>Endings are passed on as they happen: when the TLS side ends (close_notify, FIN or an error) the plaintext client
 * reads end-of-stream, which is how such a tool sees "connection closed"; when the client goes away the TLS connection
 * is closed. A TLS handshake failure closes the plaintext connection at once and is counted.
 *
 * <p>Threading: one virtual thread accepts, two per bridged connection copy; every method is thread-safe. Nothing is
 * pooled: each accepted connection gets its own TLS connection, and {@link #close} closes every socket.
 */
public final class MtlsBridge implements AutoCloseable {
    private final SSLContext tls;
    private final InetSocketAddress target;
    private final ServerSocket listener;
    private final ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
    private final ConcurrentLinkedQueue<Socket> open = new ConcurrentLinkedQueue<>();
    private final AtomicInteger accepted = new AtomicInteger();
    private final AtomicInteger handshakeFailures = new AtomicInteger();

    private MtlsBridge(SSLContext tls, InetSocketAddress target) throws IOException {
        this.tls = tls;
        this.target = target;
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        threads.submit(this::acceptLoop);
    }

    /**
     * Starts a bridge on an ephemeral loopback port.
     *
     * @param target the mutual-TLS HTTP/2 server
     * @param key the client certificate's private key
     * @param chain the client certificate chain, leaf first
     * @param roots the trust anchors the server's certificate must chain to
     */
    public static MtlsBridge start(
            InetSocketAddress target, PrivateKey key, List<X509Certificate> chain, List<X509Certificate> roots)
            throws IOException, GeneralSecurityException {
        KeyStore keys = KeyStore.getInstance("PKCS12");
        keys.load(null, null);
        char[] password = "bridge".toCharArray();
        keys.setKeyEntry("client", key, password, chain.toArray(new X509Certificate[0]));
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keys, password);
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        for (int i = 0; i < roots.size(); i++) {
            trust.setCertificateEntry("root" + i, roots.get(i));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext context = SSLContext.getInstance("TLSv1.3");
        context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return new MtlsBridge(context, target);
    }

    /** Where plaintext clients connect. */
    public InetSocketAddress address() {
        return (InetSocketAddress) listener.getLocalSocketAddress();
    }

    /** Plaintext connections accepted so far. */
    public int accepted() {
        return accepted.get();
    }

    /** TLS connections to the target that failed their handshake. */
    public int handshakeFailures() {
        return handshakeFailures.get();
    }

    private void acceptLoop() {
        while (!listener.isClosed()) {
            Socket plain;
            try {
                plain = listener.accept();
            } catch (IOException e) {
                return; // closed
            }
            accepted.incrementAndGet();
            open.add(plain);
            threads.submit(() -> bridge(plain));
        }
    }

    private void bridge(Socket plain) {
        SSLSocket secure;
        try {
            plain.setTcpNoDelay(true);
            secure = (SSLSocket) tls.getSocketFactory().createSocket();
            open.add(secure);
            SSLParameters params = secure.getSSLParameters();
            params.setProtocols(new String[] {"TLSv1.3"});
            params.setApplicationProtocols(new String[] {"h2"});
            secure.setSSLParameters(params);
            secure.setTcpNoDelay(true);
            secure.connect(target, 10_000);
            secure.startHandshake();
            if (!"h2".equals(secure.getApplicationProtocol())) {
                throw new IOException("server did not select ALPN h2: " + secure.getApplicationProtocol());
            }
        } catch (IOException e) {
            handshakeFailures.incrementAndGet();
            closeQuietly(plain);
            return;
        }
        threads.submit(() -> copy(secure, plain, true));
        copy(plain, secure, false);
    }

    /**
     * Copies until {@code from} ends. When the server side ends, the client reads end-of-stream (half-close, so that
     * bytes already sent still arrive); when the client side ends, both are closed.
     */
    private void copy(Socket from, Socket to, boolean fromServer) {
        byte[] buffer = new byte[64 * 1024];
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            int n;
            while ((n = in.read(buffer)) >= 0) {
                out.write(buffer, 0, n);
                out.flush();
            }
        } catch (IOException e) {
            // A reset or a closed peer: the ending below is the same as for end-of-stream.
        }
        if (fromServer && !to.isClosed()) {
            try {
                to.shutdownOutput();
                return;
            } catch (IOException e) {
                // fall through and close
            }
        }
        closeQuietly(from);
        closeQuietly(to);
    }

    private void closeQuietly(Socket socket) {
        open.remove(socket);
        try {
            socket.close();
        } catch (IOException e) {
            // nothing to do: the socket is gone either way
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        Socket s;
        while ((s = open.poll()) != null) {
            try {
                s.close();
            } catch (IOException e) {
                // closing the rest matters more
            }
        }
        threads.shutdownNow();
    }
}
