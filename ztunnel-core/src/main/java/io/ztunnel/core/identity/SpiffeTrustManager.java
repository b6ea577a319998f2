package io.ztunnel.core.identity;

import io.netty.handler.ssl.OpenSslCertificateException;
import io.netty.internal.tcnative.CertificateVerifier;
import io.ztunnel.core.util.Errors;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import org.jspecify.annotations.Nullable;

/**
 * Verifies mesh peers the way Istio's ztunnel does, against the trust anchors of the local workload's CA response.
 *
 * <ul>
 *   <li>The chain must validate to one of the roots (PKIX), be within its validity period, and, when the leaf has an
 *       extended key usage extension, allow clientAuth (for clients) or serverAuth (for servers).
 *   <li>No certificate of the chain may be revoked by the {@link Revocation} lists ({@code CRL_PATH}); the lists are
 *       read at each handshake, so a reload applies to the next one.
 *   <li>Server side only: at least one URI SAN of the client must be a SPIFFE id in the server's own trust domain.
 *   <li>Which server identity is acceptable is per connection, so the client side does not check SANs here; the HBONE
 *       client checks them against the expected identities after the handshake, before anything is sent.
 *   <li>Host names are never checked.
 * </ul>
 *
 * <p>A chain that passed path validation is remembered while all its certificates are valid ({@link
 * ValidatedChains}), so a peer's next handshakes skip the signature checks; the other checks run every time.
 *
 * <p>Thread-safe; called by the TLS engine on event-loop threads.
 */
public final class SpiffeTrustManager extends X509ExtendedTrustManager {
    private static final String SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
    private static final String CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

    private final List<X509Certificate> roots;
    private final Set<TrustAnchor> anchors;
    private final @Nullable String clientTrustDomain;
    private final Revocation revocation;
    private final Clock clock;
    private final ValidatedChains validated = new ValidatedChains();
    private final AtomicLong pathValidations = new AtomicLong();

    /**
     * @param roots the trust anchors
     * @param clientTrustDomain for servers, the trust domain clients must be in; {@code null} for clients
     */
    public SpiffeTrustManager(List<X509Certificate> roots, @Nullable String clientTrustDomain) {
        this(roots, clientTrustDomain, Revocation.NONE);
    }

    /**
     * @param roots the trust anchors
     * @param clientTrustDomain for servers, the trust domain clients must be in; {@code null} for clients
     * @param revocation the revocation lists peers' chains are checked against
     */
    public SpiffeTrustManager(List<X509Certificate> roots, @Nullable String clientTrustDomain, Revocation revocation) {
        this(roots, clientTrustDomain, revocation, Clock.systemUTC());
    }

    /** As above, judging validity periods by {@code clock} (tests). */
    SpiffeTrustManager(
            List<X509Certificate> roots, @Nullable String clientTrustDomain, Revocation revocation, Clock clock) {
        this.revocation = revocation;
        this.clock = clock;
        this.roots = List.copyOf(roots);
        Set<TrustAnchor> set = new HashSet<>();
        for (X509Certificate root : roots) {
            set.add(new TrustAnchor(root, null));
        }
        this.anchors = Set.copyOf(set);
        this.clientTrustDomain = clientTrustDomain;
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        validate(chain, CLIENT_AUTH);
        if (clientTrustDomain != null) {
            checkTrustDomain(chain[0]);
        }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        validate(chain, SERVER_AUTH);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        checkClientTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return roots.toArray(new X509Certificate[0]);
    }

    /** How many chains went through PKIX validation (a chain seen before and still valid does not). */
    long pathValidations() {
        return pathValidations.get();
    }

    private void checkTrustDomain(X509Certificate leaf) throws CertificateException {
        for (SpiffeId id : Certificates.spiffeIds(leaf)) {
            if (id.trustDomain().equals(clientTrustDomain)) {
                return;
            }
        }
        throw new OpenSslCertificateException(
                "client certificate has no SPIFFE identity in trust domain " + clientTrustDomain + " (URI SANs: "
                        + Certificates.uriSans(leaf) + ")",
                CertificateVerifier.X509_V_ERR_CERT_REJECTED);
    }

    private void validate(X509Certificate[] chain, String requiredUsage) throws CertificateException {
        if (chain == null || chain.length == 0) {
            throw new CertificateException("peer sent no certificate");
        }
        List<X509Certificate> path = new ArrayList<>(chain.length);
        for (X509Certificate c : chain) {
            if (!roots.contains(c)) { // a peer may send the root too; PKIX wants the path without the anchor
                path.add(c);
            }
        }
        if (path.isEmpty()) {
            throw new CertificateException("peer presented a trust anchor as its own certificate");
        }
        try {
            ValidatedChains.Key key = ValidatedChains.Key.of(path);
            if (!validated.isValid(key, clock.instant())) {
                pathValidations.incrementAndGet();
                PKIXParameters params = new PKIXParameters(anchors);
                params.setRevocationEnabled(false);
                params.setDate(Date.from(clock.instant()));
                CertPathValidator.getInstance("PKIX")
                        .validate(CertificateFactory.getInstance("X.509").generateCertPath(path), params);
                validated.add(key, path);
            }
        } catch (CertPathValidatorException e) {
            // The error code picks the TLS alert the peer sees (unknown CA, expired, ...), which helps debugging.
            int code = switch (e.getReason() instanceof CertPathValidatorException.BasicReason r ? r : null) {
                case EXPIRED -> CertificateVerifier.X509_V_ERR_CERT_HAS_EXPIRED;
                case NOT_YET_VALID -> CertificateVerifier.X509_V_ERR_CERT_NOT_YET_VALID;
                case null, default -> CertificateVerifier.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
            };
            throw new OpenSslCertificateException("peer certificate is not trusted: " + Errors.message(e), code);
        } catch (GeneralSecurityException e) {
            throw new CertificateException("peer certificate could not be checked: " + Errors.message(e), e);
        }
        // CertificateRevokedException: the peer gets the certificate_revoked alert.
        revocation.check(path, roots, clientTrustDomain != null);
        List<String> usages = chain[0].getExtendedKeyUsage();
        if (usages != null && !usages.contains(requiredUsage)) {
            throw new OpenSslCertificateException(
                    "peer certificate is not valid for "
                            + (requiredUsage.equals(SERVER_AUTH) ? "serverAuth" : "clientAuth")
                            + " (extended key usage "
                            + usages + ")",
                    CertificateVerifier.X509_V_ERR_INVALID_PURPOSE);
        }
    }
}
