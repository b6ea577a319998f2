package io.ztunnel.core.hbone;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.ztunnel.core.identity.Certificates;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.TlsMaterial;
import io.ztunnel.core.util.Errors;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Objects;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Waits for the client side of an HBONE TLS handshake (the pool's connections, and the inner connection of a double
 * HBONE tunnel) and checks the result before any HTTP/2 byte is sent: the TLS policy (version, cipher) and the
 * server's SPIFFE identity against the key's expected identities. Reports the outcome once and removes itself on
 * success; the caller closes the channel on failure.
 *
 * <p>Threading: the channel's event loop. Ownership: holds no buffers; other events pass on.
 */
final class ClientHandshakeHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(ClientHandshakeHandler.class);

    /** What the caller does with the result. */
    interface Outcome {
        /** TLS is up and the server is who we expected; the handler has left the pipeline. */
        void succeeded(SSLSession session);

        void failed(HboneException failure);
    }

    private final PoolKey key;
    private final TlsMaterial material;
    private final Outcome outcome;

    ClientHandshakeHandler(PoolKey key, TlsMaterial material, Outcome outcome) {
        this.key = key;
        this.material = material;
        this.outcome = outcome;
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (!(evt instanceof SslHandshakeCompletionEvent done)) {
            ctx.fireUserEventTriggered(evt);
            return;
        }
        HboneException failure;
        SSLSession session;
        if (!done.isSuccess()) {
            session = null;
            failure = new HboneException(
                    PeerRevocation.isRevoked(done.cause())
                            ? HboneException.Kind.CERT_REVOKED
                            : HboneException.Kind.TLS_FAILURE,
                    "TLS handshake with " + key.destination() + " failed: " + Errors.message(done.cause()),
                    done.cause());
        } else {
            session = ctx.pipeline().get(SslHandler.class).engine().getSession();
            failure = verifyPeer(key, material, session);
        }
        if (failure != null) {
            outcome.failed(failure);
            return;
        }
        ctx.pipeline().remove(this);
        outcome.succeeded(Objects.requireNonNull(session));
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // The handshake failure event carries the cause; the exception itself needs no more handling.
        log.atDebug()
                .addKeyValue("destination", key.destination())
                .addKeyValue("error", Errors.message(cause))
                .log("HBONE handshake error");
        ctx.close();
    }

    /** Null when the session satisfies the TLS policy and the server presented one of the expected identities. */
    static @Nullable HboneException verifyPeer(PoolKey key, TlsMaterial material, SSLSession session) {
        String violation = material.settings().violation(session.getProtocol(), session.getCipherSuite());
        if (violation != null) {
            return new HboneException(HboneException.Kind.TLS_FAILURE, violation, null);
        }
        SpiffeId matched = matchedIdentity(key, session);
        if (matched != null) {
            return null;
        }
        List<SpiffeId> presented = presented(session);
        if (presented == null) {
            return new HboneException(HboneException.Kind.IDENTITY_ERROR, "server presented no certificate", null);
        }
        return new HboneException(
                HboneException.Kind.IDENTITY_ERROR,
                "server at " + key.destination() + " presented " + presented + ", expected one of "
                        + key.expectedIdentities(),
                null);
    }

    /** The first identity the server presented that the key expects, or null. */
    static @Nullable SpiffeId matchedIdentity(PoolKey key, SSLSession session) {
        List<SpiffeId> presented = presented(session);
        if (presented != null) {
            for (SpiffeId id : presented) {
                if (key.expectedIdentities().contains(id)) {
                    return id;
                }
            }
        }
        return null;
    }

    private static @Nullable List<SpiffeId> presented(SSLSession session) {
        try {
            Certificate[] peer = session.getPeerCertificates();
            return Certificates.spiffeIds((X509Certificate) peer[0]);
        } catch (SSLPeerUnverifiedException e) {
            return null;
        }
    }
}
