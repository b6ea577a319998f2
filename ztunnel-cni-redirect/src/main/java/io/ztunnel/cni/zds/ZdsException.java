package io.ztunnel.cni.zds;

import java.io.IOException;
import org.jspecify.annotations.Nullable;

/**
 * A ZDS request did not get an ACK: the daemon NACKed it ({@link #nackError()} holds the daemon's
 * message), there was no daemon connection, the connection died, or the ack did not come in time.
 * Immutable.
 */
public final class ZdsException extends IOException {
    private static final long serialVersionUID = 1L;

    private final @Nullable String nackError;

    private ZdsException(String message, @Nullable String nackError, @Nullable Throwable cause) {
        super(message, cause);
        this.nackError = nackError;
    }

    static ZdsException nack(String request, String error) {
        return new ZdsException("ztunnel rejected " + request + ": " + error, error, null);
    }

    static ZdsException failed(String message, @Nullable Throwable cause) {
        return new ZdsException(message, null, cause);
    }

    /** The daemon's error text if this was a NACK, else null. */
    public @Nullable String nackError() {
        return nackError;
    }

    public boolean isNack() {
        return nackError != null;
    }
}
