package io.ztunnel.xds.ca;

import io.grpc.Status;
import org.jspecify.annotations.Nullable;

/**
 * A certificate request failed: istiod answered with an error status, could not be reached, or
 * returned an unusable chain. The message says which, including the gRPC status.
 *
 * <p>Immutable.
 */
public final class CaException extends Exception {
    private static final long serialVersionUID = 1L;

    private final Status.Code code;

    CaException(String message, Status.Code code, @Nullable Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    /** The gRPC status code of the failed call; {@code OK} when the call worked but the chain was unusable. */
    public Status.Code code() {
        return code;
    }
}
