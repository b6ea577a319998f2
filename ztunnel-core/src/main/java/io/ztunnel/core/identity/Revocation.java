package io.ztunnel.core.identity;

import io.ztunnel.core.util.Subscription;
import java.security.cert.CertificateRevokedException;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * Certificate revocation as the TLS contexts and the HBONE connections see it: a check of a peer's chain during the
 * handshake, and a watch of an established connection's chain that fires when a later revocation list revokes it.
 * {@link #NONE} when {@code CRL_PATH} is not set; {@link CrlManager} otherwise.
 *
 * <p>Implementations are thread-safe: {@link #check} runs in handshakes on event loops.
 */
public interface Revocation {

    /** No revocation checking. */
    Revocation NONE = new Revocation() {
        @Override
        public void check(List<X509Certificate> path, List<X509Certificate> roots, boolean inbound) {}

        @Override
        public Subscription track(
                List<X509Certificate> chain, List<X509Certificate> roots, boolean inbound, Runnable onRevoked) {
            return Subscription.NONE;
        }

        @Override
        public String toString() {
            return "Revocation.NONE";
        }
    };

    /**
     * Checks a peer's validated path (leaf first, without trust anchors).
     *
     * @param inbound whether this daemon is the TLS server (the peer is a client), for the {@code reporter} label
     * @throws CertificateRevokedException when a revocation list revokes a certificate of the path
     */
    void check(List<X509Certificate> path, List<X509Certificate> roots, boolean inbound)
            throws CertificateRevokedException;

    /**
     * Watches an established connection whose peer presented {@code chain}: when a reloaded revocation list revokes
     * it, {@code onRevoked} runs once, on the thread that reloaded (callers hop to their event loop). Close the
     * subscription when the connection closes.
     */
    Subscription track(List<X509Certificate> chain, List<X509Certificate> roots, boolean inbound, Runnable onRevoked);
}
