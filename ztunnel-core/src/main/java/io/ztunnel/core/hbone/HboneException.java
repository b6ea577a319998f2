package io.ztunnel.core.hbone;

import java.io.IOException;
import org.jspecify.annotations.Nullable;

/**
 * Why an outbound HBONE connection or stream failed. The kind maps to Istio's {@code response_flags} metric label.
 */
public final class HboneException extends IOException {

    /** Failure classes, named after ztunnel's response flags where one exists. */
    public enum Kind {
        /** TCP connect to the peer's HBONE port failed. */
        CONNECT,
        /** TCP connect timed out: often a NetworkPolicy blocking port 15008. */
        NETWORK_POLICY,
        /** The TLS handshake failed (or broke the TLS policy). */
        TLS_FAILURE,
        /** The server's identity is not one we expected. */
        IDENTITY_ERROR,
        /** The HTTP/2 connection could not carry the stream. */
        H2_HANDSHAKE_FAILURE,
        /** The server answered the CONNECT with a status other than 200. */
        HTTP_STATUS,
        /** The source workload has no certificate. */
        NO_CERTIFICATE,
        /** A CRL revokes the peer's certificate: the handshake was refused, or the connection closed on a reload. */
        CERT_REVOKED
    }

    private final Kind kind;
    private final int status;

    public HboneException(Kind kind, String message, @Nullable Throwable cause) {
        this(kind, 0, message, cause);
    }

    public HboneException(Kind kind, int status, String message, @Nullable Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.status = status;
    }

    public Kind kind() {
        return kind;
    }

    /** The HTTP status for {@link Kind#HTTP_STATUS}, else 0. */
    public int status() {
        return status;
    }
}
