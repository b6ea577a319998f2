package io.ztunnel.core.identity;

import java.util.List;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * TLS policy for HBONE, fixed at start from configuration.
 *
 * @param tls12Enabled {@code TLS12_ENABLED}: also allow TLS 1.2 with the ECDHE AES-GCM suites
 * @param postQuantumOnly {@code COMPLIANCE_POLICY=pqc}: offer and accept only the X25519MLKEM768 key exchange
 * @param revocation the revocation lists peers are checked against ({@code CRL_PATH}), {@link Revocation#NONE} without
 */
public record TlsSettings(boolean tls12Enabled, boolean postQuantumOnly, Revocation revocation) {

    public static final TlsSettings DEFAULT = new TlsSettings(false, false);

    public TlsSettings {
        Objects.requireNonNull(revocation, "revocation");
    }

    /** Settings without revocation checks. */
    public TlsSettings(boolean tls12Enabled, boolean postQuantumOnly) {
        this(tls12Enabled, postQuantumOnly, Revocation.NONE);
    }

    /** These settings, checking peers against {@code revocation}. */
    public TlsSettings withRevocation(Revocation revocation) {
        return new TlsSettings(tls12Enabled, postQuantumOnly, revocation);
    }

    /** The TLS 1.3 suites Istio's ztunnel allows; BoringSSL cannot restrict its TLS 1.3 list, so we check after. */
    static final List<String> ALLOWED_TLS13_SUITES = List.of("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256");

    static final List<String> TLS12_SUITES = List.of(
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");

    List<String> protocols() {
        return tls12Enabled ? List.of("TLSv1.3", "TLSv1.2") : List.of("TLSv1.3");
    }

    /**
     * Checks a finished handshake against the policy. BoringSSL always enables ChaCha20-Poly1305 for TLS 1.3, so a
     * peer that offers only that suite would otherwise get a connection Istio's ztunnel refuses.
     *
     * @return {@code null} when acceptable, otherwise the reason to refuse the connection
     */
    public @Nullable String violation(String protocol, String cipherSuite) {
        if ("TLSv1.3".equals(protocol)) {
            return ALLOWED_TLS13_SUITES.contains(cipherSuite)
                    ? null
                    : "TLS 1.3 cipher suite " + cipherSuite + " is not allowed (only AES-GCM)";
        }
        if ("TLSv1.2".equals(protocol) && tls12Enabled) {
            return TLS12_SUITES.contains(cipherSuite)
                    ? null
                    : "TLS 1.2 cipher suite " + cipherSuite + " is not allowed";
        }
        return "protocol " + protocol + " is not allowed";
    }
}
