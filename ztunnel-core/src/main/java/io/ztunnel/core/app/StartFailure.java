package io.ztunnel.core.app;

import io.netty.channel.unix.Errors;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns an exception that stopped the daemon's start into one line for the operator: the messages of the chain, with
 * Netty's system-call prefixes ({@code bind(..) failed with error(-98): }) reduced to the error text, without class
 * names and without repeating a cause whose text is already part of its wrapper's message. Stateless.
 */
final class StartFailure {
    private StartFailure() {}

    static String describe(Throwable failure) {
        List<String> parts = new ArrayList<>();
        String joined = "";
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            String text = text(t);
            if (text.isEmpty() || joined.contains(text)) {
                continue;
            }
            parts.add(text);
            joined = String.join(": ", parts);
        }
        return parts.isEmpty() ? "unexpected " + failure.getClass().getSimpleName() : clean(joined, failure);
    }

    private static String text(Throwable t) {
        String message = t.getMessage();
        return message == null ? "" : message.strip();
    }

    /** Replaces every Netty native error's own message in {@code line} by its error text. */
    private static String clean(String line, Throwable failure) {
        String result = line;
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof Errors.NativeIoException && t.getMessage() != null) {
                String raw = t.getMessage();
                int colon = raw.indexOf("): ");
                if (colon > 0) {
                    result = result.replace(raw, raw.substring(colon + 3));
                }
            }
        }
        return result;
    }
}
