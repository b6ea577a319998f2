package io.ztunnel.core.proxy;

/**
 * Why a proxied connection failed, named after Istio's {@code response_flags} metric values; {@link #NONE} ({@code -})
 * for connections that ended normally.
 */
public enum FailureFlag {
    NONE("-"),
    DENY("DENY"),
    CONNECT("CONNECT"),
    TLS_FAILURE("TLS_FAILURE"),
    H2_HANDSHAKE_FAILURE("H2_HANDSHAKE_FAILURE"),
    NETWORK_POLICY("NETWORK_POLICY"),
    IDENTITY_ERROR("IDENTITY_ERROR");

    private final String label;

    FailureFlag(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }

    /** The flag for an outbound HBONE failure. */
    public static FailureFlag of(io.ztunnel.core.hbone.HboneException e) {
        return switch (e.kind()) {
            case CONNECT, HTTP_STATUS, NO_CERTIFICATE -> CONNECT;
            case NETWORK_POLICY -> NETWORK_POLICY;
            case TLS_FAILURE -> TLS_FAILURE;
            case IDENTITY_ERROR -> IDENTITY_ERROR;
            case H2_HANDSHAKE_FAILURE -> H2_HANDSHAKE_FAILURE;
        };
    }
}
