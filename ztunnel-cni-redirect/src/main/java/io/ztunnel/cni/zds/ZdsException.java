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
    private final boolean noConnection;

    private ZdsException(String message, @Nullable String nackError, boolean noConnection, @Nullable Throwable cause) {
        super(message, cause);
        this.nackError = nackError;
        this.noConnection = noConnection;
    }

    static ZdsException nack(String request, String error) {
        return new ZdsException("ztunnel rejected " + request + ": " + error, error, false, null);
    }

    static ZdsException failed(String message, @Nullable Throwable cause) {
        return new ZdsException(message, null, false, cause);
    }

    static ZdsException noConnection(String request) {
        return new ZdsException("no ztunnel connection (" + request + ")", null, true, null);
    }

    /**
     * Whether no daemon was connected at all (the request was never sent). Such a pod is in the
     * snapshot the next daemon to connect receives.
     */
    public boolean isNoConnection() {
        return noConnection;
    }

    /** The daemon's error text if this was a NACK, else null. */
    public @Nullable String nackError() {
        return nackError;
    }

    public boolean isNack() {
        return nackError != null;
    }
}
