package io.ztunnel.core.identity;

import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.jspecify.annotations.Nullable;

/** Small read-only helpers over X.509 certificates. Stateless. */
public final class Certificates {
    private Certificates() {}

    /** Every URI SAN of {@code certificate}, in certificate order. */
    public static List<String> uriSans(X509Certificate certificate) {
        try {
            Collection<List<?>> names = certificate.getSubjectAlternativeNames();
            if (names == null) {
                return List.of();
            }
            List<String> out = new ArrayList<>();
            for (List<?> name : names) {
                if (name.size() >= 2 && Integer.valueOf(6).equals(name.get(0))) {
                    out.add(String.valueOf(name.get(1)));
                }
            }
            return out;
        } catch (CertificateParsingException e) {
            return List.of();
        }
    }

    /** The identities in the URI SANs that parse as SPIFFE ids, in certificate order. */
    public static List<SpiffeId> spiffeIds(X509Certificate certificate) {
        List<SpiffeId> out = new ArrayList<>();
        for (String uri : uriSans(certificate)) {
            SpiffeId id = SpiffeId.tryParse(uri);
            if (id != null) {
                out.add(id);
            }
        }
        return out;
    }

    /** The peer identity used for authorization: the first URI SAN that parses as a SPIFFE id, or {@code null}. */
    public static @Nullable SpiffeId firstSpiffeId(X509Certificate certificate) {
        for (String uri : uriSans(certificate)) {
            SpiffeId id = SpiffeId.tryParse(uri);
            if (id != null) {
                return id;
            }
        }
        return null;
    }

    public static boolean isSelfSigned(X509Certificate certificate) {
        if (!certificate.getSubjectX500Principal().equals(certificate.getIssuerX500Principal())) {
            return false;
        }
        try {
            certificate.verify(certificate.getPublicKey());
            return true;
        } catch (Exception e) {
            return false;
        }
    }
}
