package io.ztunnel.core.identity;

import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * A workload's key, its certificate chain (leaf first, then intermediates) and the trust anchors that came with it.
 * Immutable.
 */
public record WorkloadCertificate(
        SpiffeId identity, PrivateKey privateKey, List<X509Certificate> chain, List<X509Certificate> roots) {

    public WorkloadCertificate {
        chain = List.copyOf(chain);
        roots = List.copyOf(roots);
        if (chain.isEmpty() || roots.isEmpty()) {
            throw new IllegalArgumentException("a workload certificate needs a chain and at least one root");
        }
    }

    public X509Certificate leaf() {
        return chain.getFirst();
    }

    public Instant notBefore() {
        return leaf().getNotBefore().toInstant();
    }

    public Instant notAfter() {
        return leaf().getNotAfter().toInstant();
    }

    /** Renewal time: half-way through the leaf's lifetime, as Istio's ztunnel does. */
    public Instant refreshAt() {
        Duration lifetime = Duration.between(notBefore(), notAfter());
        return notBefore().plus(lifetime.dividedBy(2));
    }

    public boolean isExpired(Instant now) {
        return !now.isBefore(notAfter());
    }

    public String serialHex() {
        return leaf().getSerialNumber().toString(16);
    }
}
