package io.ztunnel.core.util;

import java.nio.channels.ClosedChannelException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * Turns exceptions into the text of log fields and error messages: the first message in the cause chain (wrappers
 * such as {@link CompletionException} skipped), never {@code "null"} and never an exception class name in front of it.
 * Stateless.
 */
public final class Errors {
    private Errors() {}

    /** A readable reason for {@code error}. */
    public static String message(Throwable error) {
        Throwable t = unwrap(error);
        for (Throwable c = t; c != null; c = c.getCause()) {
            String m = c.getMessage();
            if (m != null && c.getCause() != null && m.equals(c.getCause().toString())) {
                continue; // a wrapper whose message is its cause's class name and message
            }
            if (m != null && !m.isBlank()) {
                return m;
            }
            if (c instanceof ClosedChannelException) {
                return "connection closed";
            }
        }
        return "unexpected error (" + t.getClass().getSimpleName() + ", no message)";
    }

    /**
     * Waits for {@code future}; a failure is rethrown as the unchecked exception it failed with (not wrapped in a
     * {@link CompletionException}), so a start step run on another thread fails its caller as if run inline.
     */
    public static <T> T join(CompletableFuture<T> future) {
        try {
            return future.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException cause) {
                throw cause;
            }
            throw e;
        }
    }

    /** The exception behind {@link CompletionException} / {@link ExecutionException} wrappers. */
    public static Throwable unwrap(Throwable error) {
        Throwable t = error;
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }
}
