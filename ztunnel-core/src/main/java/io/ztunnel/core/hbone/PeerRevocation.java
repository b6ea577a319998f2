package io.ztunnel.core.hbone;

import io.netty.channel.Channel;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.util.AttributeKey;
import io.ztunnel.core.identity.TlsMaterial;
import io.ztunnel.core.util.Subscription;
import java.security.cert.Certificate;
import java.security.cert.CertificateRevokedException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Certificate revocation on HBONE connections (both ends): every mutual-TLS connection registers its peer's chain with
 * the TLS material's {@link io.ztunnel.core.identity.Revocation}; when a reloaded CRL revokes the peer, the connection
 * is marked and closed at once (GOAWAY, then close without waiting for streams), and each of its streams ends with
 * {@link #error} (response flag {@code CERT_REVOKED}). Handshakes the CRL refuses are recognized by {@link #isRevoked}.
 *
 * <p>Threading: {@link #track} runs on the connection's event loop; the revocation callback comes from the CRL watcher
 * and hops to that loop. Stateless apart from the channel attribute.
 */
final class PeerRevocation {
    private static final Logger log = LoggerFactory.getLogger(PeerRevocation.class);

    /** Upstream's error for a connection ended by a revocation. */
    static final String REASON = "connection closed: peer certificate revoked by CRL";

    private static final AttributeKey<Boolean> REVOKED = AttributeKey.valueOf(PeerRevocation.class, "revoked");

    private PeerRevocation() {}

    /**
     * Watches the connection {@code ch} (handshake done) until it closes.
     *
     * @param inbound whether we are the TLS server
     */
    static void track(Channel ch, TlsMaterial material, SSLSession session, boolean inbound) {
        List<X509Certificate> chain = new ArrayList<>();
        try {
            for (Certificate c : session.getPeerCertificates()) {
                chain.add((X509Certificate) c);
            }
        } catch (SSLPeerUnverifiedException e) {
            // no chain: counted as untracked below
        }
        Subscription watch = material.settings()
                .revocation()
                .track(
                        chain,
                        material.certificate().roots(),
                        inbound,
                        () -> ch.eventLoop().execute(() -> close(ch, inbound)));
        ch.closeFuture().addListener(f -> watch.close());
    }

    private static void close(Channel ch, boolean inbound) {
        if (!ch.isOpen()) {
            return;
        }
        ch.attr(REVOKED).set(Boolean.TRUE);
        log.atWarn()
                .addKeyValue("direction", inbound ? "inbound" : "outbound")
                .addKeyValue("peer", ch.remoteAddress())
                .addKeyValue("local", ch.localAddress())
                .log(REASON);
        Http2FrameCodec codec = ch.pipeline().get(Http2FrameCodec.class);
        if (codec != null) {
            codec.gracefulShutdownTimeoutMillis(0); // GOAWAY, then close without waiting for the streams
        }
        ch.close();
    }

    /**
     * The error a stream of {@code connection} ends with, or {@code null} when no revocation closed it. A double-HBONE
     * inner connection runs over an outer stream, so the connections it rests on are asked too: either layer's
     * revocation ends the stream with {@code CERT_REVOKED}.
     */
    static @Nullable HboneException error(@Nullable Channel connection) {
        for (Channel c = connection; c != null; c = c.parent()) {
            if (Boolean.TRUE.equals(c.attr(REVOKED).get())) {
                return new HboneException(HboneException.Kind.CERT_REVOKED, REASON, null);
            }
        }
        return null;
    }

    /** Whether a handshake failed because a CRL revokes the peer's certificate. */
    static boolean isRevoked(Throwable handshakeFailure) {
        for (Throwable t = handshakeFailure; t != null; t = t.getCause()) {
            if (t instanceof CertificateRevokedException) {
                return true;
            }
            for (Throwable s : t.getSuppressed()) {
                if (s instanceof CertificateRevokedException) {
                    return true;
                }
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return false;
    }
}
