package io.ztunnel.core.identity;

import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;

/**
 * What a CA returns: the leaf followed by intermediates, and the root bundle (one or more trust anchors).
 *
 * @param leafAndIntermediates leaf first; never empty
 * @param roots every trusted root; never empty (a CA that returns no root is rejected, as in ztunnel)
 */
public record IssuedChain(List<X509Certificate> leafAndIntermediates, List<X509Certificate> roots) {

    public IssuedChain {
        leafAndIntermediates = List.copyOf(leafAndIntermediates);
        roots = List.copyOf(roots);
        if (leafAndIntermediates.isEmpty()) {
            throw new IllegalArgumentException("certificate chain is empty");
        }
        if (roots.isEmpty()) {
            throw new IllegalArgumentException("no root certificate present");
        }
    }

    /**
     * Interprets Istio's CA response layout: element 0 is the leaf, the last element is the root bundle (which may
     * hold several concatenated roots), anything between is an intermediate.
     */
    public static IssuedChain fromIstioResponse(List<String> pemChain) {
        if (pemChain.size() < 2) {
            throw new IllegalArgumentException("no root certificate present (CA returned " + pemChain.size()
                    + " element" + (pemChain.size() == 1 ? "" : "s") + ")");
        }
        List<X509Certificate> chain = new ArrayList<>();
        for (int i = 0; i < pemChain.size() - 1; i++) {
            chain.addAll(Pem.certificates(pemChain.get(i), "cert_chain[" + i + "]"));
        }
        List<X509Certificate> roots = Pem.certificates(pemChain.getLast(), "cert_chain[" + (pemChain.size() - 1) + "]");
        return new IssuedChain(chain, roots);
    }

    public X509Certificate leaf() {
        return leafAndIntermediates.getFirst();
    }
}
