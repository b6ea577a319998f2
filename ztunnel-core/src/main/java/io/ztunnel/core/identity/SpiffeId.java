package io.ztunnel.core.identity;

import io.ztunnel.core.util.Errors;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * A workload identity in Istio's SPIFFE form {@code spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>}.
 *
 * <p>Parsing is strict, as in Istio's ztunnel: the scheme must be {@code spiffe://} and the path must be exactly
 * {@code ns/<ns>/sa/<sa>}; anything else is rejected with a message naming the part that is wrong. Immutable and
 * thread-safe.
 */
public record SpiffeId(String trustDomain, String namespace, String serviceAccount) {

    public static final String SCHEME = "spiffe://";

    public SpiffeId {
        requireSegment("trust domain", trustDomain);
        requireSegment("namespace", namespace);
        requireSegment("service account", serviceAccount);
    }

    /**
     * Parses {@code spiffe://td/ns/ns/sa/sa}.
     *
     * @throws IllegalArgumentException naming the offending part
     */
    public static SpiffeId parse(String uri) {
        Objects.requireNonNull(uri, "uri");
        if (!uri.startsWith(SCHEME)) {
            throw new IllegalArgumentException("SPIFFE id " + quote(uri) + ": must start with " + SCHEME);
        }
        String rest = uri.substring(SCHEME.length());
        String[] parts = rest.split("/", -1);
        if (parts.length != 5) {
            throw new IllegalArgumentException("SPIFFE id " + quote(uri)
                    + ": expected spiffe://<trust domain>/ns/<namespace>/sa/<service account>, found "
                    + parts.length + " path segments instead of 5");
        }
        if (!parts[1].equals("ns")) {
            throw new IllegalArgumentException(
                    "SPIFFE id " + quote(uri) + ": second segment must be \"ns\", found " + quote(parts[1]));
        }
        if (!parts[3].equals("sa")) {
            throw new IllegalArgumentException(
                    "SPIFFE id " + quote(uri) + ": fourth segment must be \"sa\", found " + quote(parts[3]));
        }
        try {
            return new SpiffeId(parts[0], parts[2], parts[4]);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("SPIFFE id " + quote(uri) + ": " + Errors.message(e), e);
        }
    }

    /** Returns the identity parsed from {@code uri}, or {@code null} when it is not a valid SPIFFE id. */
    public static @Nullable SpiffeId tryParse(String uri) {
        try {
            return parse(uri);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** The identity as used in RBAC principals: the URI without the {@code spiffe://} prefix. */
    public String principal() {
        return trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount;
    }

    @Override
    public String toString() {
        return SCHEME + principal();
    }

    private static void requireSegment(String what, String value) {
        if (value == null || value.isEmpty()) {
            throw new IllegalArgumentException(what + " is empty");
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '/' || c <= ' ' || c == 0x7f) {
                throw new IllegalArgumentException(what + " " + quote(value) + " contains an invalid character "
                        + (c == '/' ? "'/'" : String.format("U+%04X", (int) c)));
            }
        }
    }

    private static String quote(String s) {
        return "\"" + s + "\"";
    }
}
