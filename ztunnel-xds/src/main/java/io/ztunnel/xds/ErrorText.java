package io.ztunnel.xds;

import java.net.UnknownHostException;
import java.nio.file.FileSystemException;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * The text an exception contributes to an error message or a log value: its own message, else the first message
 * among its causes, else its type in words ({@code ClosedChannelException} reads "closed channel"). Where the message
 * only names a file or host, the type in words comes first ("no such file: /etc/x").
 *
 * <p>Never null or blank and never a class name followed by a colon: a wrapper whose message is only its cause's
 * {@code toString()} (what {@code CompletionException}, {@code ExecutionException}, {@code UncheckedIOException} and
 * the {@code Throwable(Throwable)} constructor make) is looked through. Use it instead of {@code e.toString()} or
 * {@code e.getMessage()} when building a message.
 *
 * <p>The adapter modules share no code (they depend on nothing of each other), so each has its own copy of this
 * helper; keep them alike. Stateless and thread-safe.
 */
public final class ErrorText {
    /** Bounds the walk down a cause chain that loops back on itself. */
    private static final int MAX_CAUSES = 16;

    private ErrorText() {}

    /**
     * Returns the useful text of {@code error}.
     *
     * @param error the exception; its cause chain is searched for a message
     */
    public static String of(Throwable error) {
        @Nullable Throwable current = error;
        Throwable innermost = error;
        for (int depth = 0; current != null && depth < MAX_CAUSES; depth++) {
            innermost = current;
            String message = current.getMessage();
            Throwable cause = current.getCause();
            if (message != null && !message.isBlank() && !isOnlyTheCause(message, cause)) {
                return namesOnlyTheSubject(current) ? typeInWords(current) + ": " + message.strip() : message.strip();
            }
            current = cause;
        }
        return typeInWords(innermost);
    }

    /**
     * True for exceptions whose message is only the file or host concerned while the type says what went wrong
     * ({@code NoSuchFileException: /etc/x}, {@code UnknownHostException: istiod}).
     */
    private static boolean namesOnlyTheSubject(Throwable error) {
        return (error instanceof FileSystemException fs && fs.getReason() == null)
                || error instanceof UnknownHostException;
    }

    private static boolean isOnlyTheCause(String message, @Nullable Throwable cause) {
        return cause != null && message.equals(cause.toString());
    }

    /** "SSLHandshakeException" to "ssl handshake", "EOFException" to "eof"; "error" when nothing is left. */
    private static String typeInWords(Throwable error) {
        String name = error.getClass().getSimpleName();
        for (String suffix : new String[] {"Exception", "Error"}) {
            if (name.endsWith(suffix)) {
                name = name.substring(0, name.length() - suffix.length());
                break;
            }
        }
        if (name.isEmpty()) {
            return "error";
        }
        return String.join(" ", name.split("(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])"))
                .toLowerCase(Locale.ROOT);
    }
}
