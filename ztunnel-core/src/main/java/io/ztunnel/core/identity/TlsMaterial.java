package io.ztunnel.core.identity;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.OpenSslContextOption;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import io.netty.util.ReferenceCountUtil;
import io.ztunnel.core.util.Errors;
import java.security.cert.X509Certificate;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.SSLException;

/**
 * The TLS contexts of one workload identity for one certificate version: a server context (client certificate
 * required, client must be in our trust domain) and a client context (presents our certificate, verifies the server
 * chain; the server identity is checked by the caller). Both speak only ALPN {@code h2}, TLS 1.3 (plus 1.2 when
 * enabled), BoringSSL via netty-tcnative, and the client sends no SNI.
 *
 * <p>Thread-safe. The contexts are reference counted: {@link #release()} is called by the {@link CertificateManager}
 * after a rotation grace period; TLS engines created earlier retain their context, so open connections keep working.
 */
public final class TlsMaterial {
    static final long HANDSHAKE_TIMEOUT_MILLIS = 10_000;

    private final WorkloadCertificate certificate;
    private final TlsSettings settings;
    private final SslContext server;
    private final SslContext client;
    private final AtomicBoolean released = new AtomicBoolean();

    private TlsMaterial(WorkloadCertificate certificate, TlsSettings settings, SslContext server, SslContext client) {
        this.certificate = certificate;
        this.settings = settings;
        this.server = server;
        this.client = client;
    }

    /** Builds both contexts; fails with a clear message if the key material is unusable. */
    public static TlsMaterial create(WorkloadCertificate certificate, TlsSettings settings) {
        X509Certificate[] chain = certificate.chain().toArray(new X509Certificate[0]);
        ApplicationProtocolConfig alpn = new ApplicationProtocolConfig(
                ApplicationProtocolConfig.Protocol.ALPN,
                ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT,
                ApplicationProtocolNames.HTTP_2);
        SslContext server = null;
        try {
            SslContextBuilder serverBuilder = SslContextBuilder.forServer(certificate.privateKey(), chain)
                    .clientAuth(ClientAuth.REQUIRE)
                    .trustManager(new SpiffeTrustManager(
                            certificate.roots(), certificate.identity().trustDomain(), settings.revocation()));
            server = configure(serverBuilder, settings, alpn).build();
            SslContextBuilder clientBuilder = SslContextBuilder.forClient()
                    .keyManager(certificate.privateKey(), chain)
                    .trustManager(new SpiffeTrustManager(certificate.roots(), null, settings.revocation()))
                    .endpointIdentificationAlgorithm(null);
            SslContext client = configure(clientBuilder, settings, alpn).build();
            // ztunnel's client never resumes sessions: every HBONE connection does a full handshake.
            client.sessionContext().setSessionCacheSize(0);
            return new TlsMaterial(certificate, settings, server, client);
        } catch (SSLException | RuntimeException e) {
            ReferenceCountUtil.release(server);
            throw new IllegalArgumentException(
                    "cannot build TLS contexts for " + certificate.identity() + ": " + Errors.message(e), e);
        }
    }

    /**
     * Netty hands the key to BoringSSL through an in-memory key store that nobody else sees. JKS, not the JDK's
     * default PKCS12: PKCS12 encrypts and then decrypts the key with 10,000 rounds of PBKDF2 per context, which
     * doubled the CPU a certificate's two contexts take (measured ~65 → ~35 ms per identity, warm), paid for every
     * workload at start and at every rotation.
     */
    static final String KEY_STORE_TYPE = "JKS";

    private static SslContextBuilder configure(
            SslContextBuilder builder, TlsSettings settings, ApplicationProtocolConfig alpn) {
        builder.sslProvider(SslProvider.OPENSSL_REFCNT)
                .keyStoreType(KEY_STORE_TYPE)
                .protocols(settings.protocols().toArray(new String[0]))
                .applicationProtocolConfig(alpn);
        if (settings.tls12Enabled()) {
            builder.ciphers(TlsSettings.TLS12_SUITES);
        }
        if (settings.postQuantumOnly()) {
            builder.option(OpenSslContextOption.GROUPS, new String[] {"X25519MLKEM768"});
        }
        return builder;
    }

    public WorkloadCertificate certificate() {
        return certificate;
    }

    public SpiffeId identity() {
        return certificate.identity();
    }

    public TlsSettings settings() {
        return settings;
    }

    /** A new server-side handler for an accepted HBONE connection. */
    public SslHandler newServerHandler(ByteBufAllocator alloc) {
        SslHandler handler = server.newHandler(alloc);
        handler.setHandshakeTimeoutMillis(HANDSHAKE_TIMEOUT_MILLIS);
        return handler;
    }

    /** A new client-side handler for an outgoing HBONE connection; no SNI is sent. */
    public SslHandler newClientHandler(ByteBufAllocator alloc) {
        SslHandler handler = client.newHandler(alloc);
        handler.setHandshakeTimeoutMillis(HANDSHAKE_TIMEOUT_MILLIS);
        return handler;
    }

    /** Drops this object's references to its contexts; idempotent. */
    public void release() {
        if (released.compareAndSet(false, true)) {
            ReferenceCountUtil.release(server);
            ReferenceCountUtil.release(client);
        }
    }

    boolean isReleased() {
        return released.get();
    }

    @Override
    public String toString() {
        return "TlsMaterial{" + certificate.identity() + ", serial=" + certificate.serialHex() + ", notAfter="
                + certificate.notAfter() + "}";
    }
}
