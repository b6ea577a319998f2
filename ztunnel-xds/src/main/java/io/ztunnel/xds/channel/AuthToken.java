package io.ztunnel.xds.channel;

import io.ztunnel.xds.ErrorText;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * The bearer token sent to istiod as {@code authorization: Bearer <token>}: ztunnel's {@code
 * AUTH_TOKEN}.
 *
 * <p>A file-backed token (the projected service-account token, rotated by the kubelet) is read
 * again for every call, so a rotated token is used from the next call on. Surrounding whitespace
 * (the trailing newline) is stripped. A literal token is sent as given.
 *
 * <p>Immutable and thread-safe; {@link #read()} does blocking file I/O for file tokens.
 */
public abstract sealed class AuthToken {

    private AuthToken() {}

    /** No token: no {@code authorization} header is sent. */
    public static AuthToken none() {
        return None.INSTANCE;
    }

    /** A fixed token. */
    public static AuthToken literal(String token) {
        Objects.requireNonNull(token, "token");
        if (token.isBlank()) {
            throw new IllegalArgumentException("token: blank");
        }
        return new Literal(token.strip());
    }

    /** A token read from {@code file} on every call. */
    public static AuthToken file(Path file) {
        return new FromFile(Objects.requireNonNull(file, "file"));
    }

    /**
     * Interprets an {@code AUTH_TOKEN} value as upstream does: an existing file path is a token
     * file, anything else is the token itself.
     */
    public static AuthToken fromSetting(String value) {
        Objects.requireNonNull(value, "value");
        Path path;
        try {
            path = Path.of(value);
        } catch (RuntimeException e) {
            return literal(value);
        }
        return Files.isRegularFile(path) ? file(path) : literal(value);
    }

    /**
     * The token to send now, or empty for {@link #none()}.
     *
     * @throws IOException if a token file cannot be read or is empty (the message names the file)
     */
    public abstract Optional<String> read() throws IOException;

    private static final class None extends AuthToken {
        static final None INSTANCE = new None();

        @Override
        public Optional<String> read() {
            return Optional.empty();
        }

        @Override
        public String toString() {
            return "AuthToken.none";
        }
    }

    private static final class Literal extends AuthToken {
        private final String token;

        Literal(String token) {
            this.token = token;
        }

        @Override
        public Optional<String> read() {
            return Optional.of(token);
        }

        @Override
        public String toString() {
            return "AuthToken.literal(<redacted>)";
        }
    }

    private static final class FromFile extends AuthToken {
        private final Path file;

        FromFile(Path file) {
            this.file = file;
        }

        @Override
        public Optional<String> read() throws IOException {
            String token;
            try {
                token = Files.readString(file, StandardCharsets.UTF_8).strip();
            } catch (IOException e) {
                throw new IOException("cannot read token file " + file + ": " + ErrorText.of(e), e);
            }
            if (token.isEmpty()) {
                throw new IOException("token file " + file + " is empty");
            }
            return Optional.of(token);
        }

        @Override
        public String toString() {
            return "AuthToken.file(" + file + ")";
        }
    }
}
