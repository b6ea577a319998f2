package io.ztunnel.core.identity;

import io.ztunnel.core.util.Errors;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.PublicKey;
import java.security.cert.CRLException;
import java.security.cert.CRLReason;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateRevokedException;
import java.security.cert.X509CRL;
import java.security.cert.X509CRLEntry;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.security.auth.x500.X500Principal;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemReader;
import org.jspecify.annotations.Nullable;

/**
 * The certificate revocation lists of one load of {@code CRL_PATH}, indexed by issuer, and the check of a certificate
 * chain against them, with upstream's rules:
 *
 * <ul>
 *   <li>Content starting with {@code -----BEGIN} is PEM: every {@code X509 CRL} block is used, other blocks are
 *       ignored. Anything else is one DER-encoded CRL. An empty file, or PEM without CRL blocks, revokes nothing. One
 *       unparsable CRL fails the whole load.
 *   <li>A certificate is revoked when a CRL issued by the certificate's issuer, whose signature verifies with that
 *       issuer's key, lists its serial number. A certificate no CRL covers is accepted (unknown status is allowed),
 *       and a CRL's {@code nextUpdate} is not enforced. Trust anchors themselves are not checked.
 * </ul>
 *
 * <p>Immutable and thread-safe.
 */
public final class CrlSet {
    /** Revokes nothing. */
    public static final CrlSet EMPTY = new CrlSet(List.of());

    private final List<X509CRL> crls;
    private final Map<X500Principal, List<X509CRL>> byIssuer;

    private CrlSet(List<X509CRL> crls) {
        this.crls = List.copyOf(crls);
        Map<X500Principal, List<X509CRL>> index = new HashMap<>();
        for (X509CRL crl : crls) {
            index.computeIfAbsent(crl.getIssuerX500Principal(), k -> new ArrayList<>(1))
                    .add(crl);
        }
        index.replaceAll((k, v) -> List.copyOf(v));
        this.byIssuer = Map.copyOf(index);
    }

    /**
     * Parses a CRL file's content.
     *
     * @param source names the file in error messages
     * @throws IllegalArgumentException naming {@code source} and the failing CRL when a CRL cannot be parsed
     */
    public static CrlSet parse(byte[] content, String source) {
        int start = 0;
        while (start < content.length && Character.isWhitespace(content[start])) {
            start++;
        }
        if (start == content.length) {
            return EMPTY;
        }
        CertificateFactory factory;
        try {
            factory = CertificateFactory.getInstance("X.509");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("no X.509 support in this JVM", e);
        }
        String text = new String(content, start, Math.min(content.length - start, 10), StandardCharsets.US_ASCII);
        if (!text.startsWith("-----BEGIN")) {
            return new CrlSet(List.of(decode(factory, content, source + ": invalid DER CRL")));
        }
        List<X509CRL> out = new ArrayList<>();
        try (PemReader reader =
                new PemReader(new InputStreamReader(new ByteArrayInputStream(content), StandardCharsets.US_ASCII))) {
            int block = 0;
            PemObject object;
            while ((object = reader.readPemObject()) != null) {
                block++;
                if (object.getType().equals("X509 CRL")) {
                    out.add(decode(factory, object.getContent(), source + ": invalid CRL in PEM block " + block));
                }
            }
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException(source + ": invalid PEM: " + Errors.message(e), e);
        }
        return new CrlSet(out);
    }

    private static X509CRL decode(CertificateFactory factory, byte[] der, String what) {
        try {
            return (X509CRL) factory.generateCRL(new ByteArrayInputStream(der));
        } catch (CRLException | RuntimeException e) {
            throw new IllegalArgumentException(what + ": " + Errors.message(e), e);
        }
    }

    /** Number of CRLs loaded. */
    public int size() {
        return crls.size();
    }

    /** Number of revoked serial numbers over all CRLs. */
    public int revokedCount() {
        int n = 0;
        for (X509CRL crl : crls) {
            n += crl.getRevokedCertificates() == null
                    ? 0
                    : crl.getRevokedCertificates().size();
        }
        return n;
    }

    /**
     * Checks {@code path} (leaf first, intermediates after, trust anchors left out) whose anchors are {@code roots}.
     *
     * @throws CertificateRevokedException for the first certificate a CRL revokes
     */
    public void check(List<X509Certificate> path, List<X509Certificate> roots) throws CertificateRevokedException {
        if (crls.isEmpty()) {
            return;
        }
        for (int i = 0; i < path.size(); i++) {
            X509Certificate cert = path.get(i);
            List<X509CRL> candidates = byIssuer.get(cert.getIssuerX500Principal());
            if (candidates == null) {
                continue;
            }
            for (X509CRL crl : candidates) {
                X509CRLEntry entry = crl.getRevokedCertificate(cert);
                if (entry != null && signedByIssuer(crl, cert, i + 1 < path.size() ? path.get(i + 1) : null, roots)) {
                    CRLReason reason = entry.getRevocationReason();
                    throw new CertificateRevokedException(
                            entry.getRevocationDate(),
                            reason == null ? CRLReason.UNSPECIFIED : reason,
                            crl.getIssuerX500Principal(),
                            Map.of());
                }
            }
        }
    }

    /** Whether {@code crl} is signed by the issuer of {@code cert}: the next certificate in the path or a root. */
    private static boolean signedByIssuer(
            X509CRL crl, X509Certificate cert, @Nullable X509Certificate next, List<X509Certificate> roots) {
        X500Principal issuer = cert.getIssuerX500Principal();
        if (next != null && next.getSubjectX500Principal().equals(issuer) && verifies(crl, next.getPublicKey())) {
            return true;
        }
        for (X509Certificate root : roots) {
            if (root.getSubjectX500Principal().equals(issuer) && verifies(crl, root.getPublicKey())) {
                return true;
            }
        }
        return false;
    }

    private static boolean verifies(X509CRL crl, PublicKey key) {
        try {
            crl.verify(key);
            return true;
        } catch (GeneralSecurityException | RuntimeException e) {
            return false;
        }
    }

    @Override
    public String toString() {
        return "CrlSet{crls=" + crls.size() + ", revoked=" + revokedCount() + "}";
    }
}
