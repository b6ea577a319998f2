package io.ztunnel.core.identity;

import java.time.Duration;
import java.util.concurrent.CompletionStage;

/**
 * Something that signs workload certificate requests: the embedded {@link LocalCa}, or istiod's
 * {@code IstioCertificateService}.
 *
 * <p>Implementations may complete on any thread and must never block the caller.
 */
public interface CertificateAuthority {

    /**
     * Signs {@code csrPem} (a PKCS#10 request carrying {@code identity} as its only URI SAN) for {@code ttl}.
     * The returned chain is leaf first, then intermediates, with the trust anchors separate.
     */
    CompletionStage<IssuedChain> sign(SpiffeId identity, String csrPem, Duration ttl);

    /** A short description for logs and {@code /config_dump}, e.g. {@code local CA /var/lib/ztunnel/ca}. */
    String describe();
}
