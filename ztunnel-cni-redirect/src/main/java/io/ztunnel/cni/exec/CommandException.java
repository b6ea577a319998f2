package io.ztunnel.cni.exec;

import java.io.IOException;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * An external command could not be started, timed out, or exited non-zero. The message always
 * names the command line, where it ran, the exit code (or why there is none) and its stderr, e.g.
 * {@code "iptables-restore --noflush" in netns net:[4026532]@4 exited 1: iptables-restore: line 2
 * failed: Chain already exists.} Immutable.
 */
public final class CommandException extends IOException {
    private static final long serialVersionUID = 1L;

    /** {@link #exitCode()} when the process never exited on its own (not started, timed out). */
    public static final int NO_EXIT_CODE = -1;

    private final List<String> command;
    private final int exitCode;
    private final String stderr;

    CommandException(String message, List<String> command, int exitCode, String stderr, @Nullable Throwable cause) {
        super(message, cause);
        this.command = List.copyOf(command);
        this.exitCode = exitCode;
        this.stderr = stderr;
    }

    static CommandException failed(CommandResult r) {
        return new CommandException(
                "\""
                        + r.commandLine()
                        + "\" in "
                        + r.where()
                        + " exited "
                        + r.exitCode()
                        + ": "
                        + describeOutput(r.stderr(), r.stdout()),
                r.command(),
                r.exitCode(),
                r.stderr(),
                null);
    }

    private static String describeOutput(String stderr, String stdout) {
        String err = stderr.strip();
        if (!err.isEmpty()) {
            return err;
        }
        String out = stdout.strip();
        return out.isEmpty() ? "(no output)" : "(no stderr; stdout: " + out + ")";
    }

    /** The argv (without any {@code nsenter} prefix). */
    public List<String> command() {
        return command;
    }

    /** The exit code, or {@link #NO_EXIT_CODE}. */
    public int exitCode() {
        return exitCode;
    }

    /** What the command wrote to stderr (possibly empty). */
    public String stderr() {
        return stderr;
    }
}
