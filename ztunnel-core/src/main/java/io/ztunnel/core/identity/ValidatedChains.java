package io.ztunnel.core.identity;

import java.security.cert.CertificateEncodingException;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Peer chains that already passed path validation against one set of trust anchors, so that the next handshake with
 * the same chain skips the JDK's PKIX validation and its signature checks. A peer presents the same certificate for
 * hours, and that validation was 6-9 % of a daemon's Java CPU per new TLS connection in the benchmark.
 *
 * <p>A chain is known by its certificates' encodings, so any other chain (another CA's certificate for the same
 * identity, say) is validated on its own. An entry counts only inside the validity window all its certificates share:
 * outside it the chain is validated again, and refused. Revocation is not cached; the caller checks it at every
 * handshake. Bounded: at {@value #MAX_CHAINS} chains the set starts over.
 *
 * <p>Thread-safe (TLS engines call it from every event loop).
 */
final class ValidatedChains {
    static final int MAX_CHAINS = 1024;

    private final ConcurrentHashMap<Key, Window> chains = new ConcurrentHashMap<>();

    /** A chain's identity: its certificates' DER encodings, in order. */
    static final class Key {
        private final byte[][] encodings;
        private final int hash;

        private Key(byte[][] encodings) {
            this.encodings = encodings;
            this.hash = Arrays.deepHashCode(encodings);
        }

        static Key of(List<X509Certificate> path) throws CertificateEncodingException {
            byte[][] encodings = new byte[path.size()][];
            for (int i = 0; i < encodings.length; i++) {
                encodings[i] = path.get(i).getEncoded();
            }
            return new Key(encodings);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && hash == k.hash && Arrays.deepEquals(encodings, k.encodings);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    private record Window(Instant notBefore, Instant notAfter) {
        boolean contains(Instant now) {
            return !now.isBefore(notBefore) && !now.isAfter(notAfter);
        }
    }

    /** Whether {@code key}'s chain passed validation and {@code now} is inside the validity of all its certificates. */
    boolean isValid(Key key, Instant now) {
        Window window = chains.get(key);
        return window != null && window.contains(now);
    }

    /** Records that {@code path} (known by {@code key}) passed validation. */
    void add(Key key, List<X509Certificate> path) {
        Instant notBefore = Instant.MIN;
        Instant notAfter = Instant.MAX;
        for (X509Certificate c : path) {
            Instant from = c.getNotBefore().toInstant();
            Instant to = c.getNotAfter().toInstant();
            notBefore = from.isAfter(notBefore) ? from : notBefore;
            notAfter = to.isBefore(notAfter) ? to : notAfter;
        }
        if (chains.size() >= MAX_CHAINS) {
            chains.clear();
        }
        chains.put(key, new Window(notBefore, notAfter));
    }

    int size() {
        return chains.size();
    }
}
