package io.ztunnel.xds.ca;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;

/**
 * One certificate signing request to istiod's CA.
 *
 * @param csrPem PEM-encoded PKCS#10 request ({@code -----BEGIN CERTIFICATE REQUEST-----})
 * @param validity requested lifetime ({@code SECRET_TTL}, default 24 h); sent in whole seconds
 * @param impersonatedIdentity the SPIFFE id to sign for, sent as metadata {@code
 *     ImpersonatedIdentity} (shared node-proxy mode); empty in dedicated mode, where no metadata
 *     is sent
 */
public record CertificateRequest(String csrPem, Duration validity, Optional<String> impersonatedIdentity) {
    public CertificateRequest {
        Objects.requireNonNull(csrPem, "csrPem");
        Objects.requireNonNull(validity, "validity");
        Objects.requireNonNull(impersonatedIdentity, "impersonatedIdentity");
        if (!csrPem.contains("-----BEGIN CERTIFICATE REQUEST-----")) {
            throw new IllegalArgumentException("csrPem: not a PEM certificate request");
        }
        if (validity.toSeconds() <= 0) {
            throw new IllegalArgumentException("validity: " + validity + " (expected: >= 1 s)");
        }
        impersonatedIdentity.ifPresent(id -> {
            if (id.isBlank()) {
                throw new IllegalArgumentException("impersonatedIdentity: blank");
            }
        });
    }

    /** A request in shared (node proxy) mode, signing for {@code spiffeId}. */
    public static CertificateRequest impersonating(String csrPem, Duration validity, String spiffeId) {
        return new CertificateRequest(csrPem, validity, Optional.of(spiffeId));
    }

    /** A request without impersonation metadata (dedicated mode). */
    public static CertificateRequest forSelf(String csrPem, Duration validity) {
        return new CertificateRequest(csrPem, validity, Optional.empty());
    }
}
