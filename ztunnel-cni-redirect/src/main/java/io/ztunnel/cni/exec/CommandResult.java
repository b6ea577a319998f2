package io.ztunnel.cni.exec;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * How one external command ended: its exit code and everything it wrote. Immutable.
 *
 * @param command the argv as the caller asked for it (without any {@code nsenter} prefix)
 * @param where where it ran, e.g. {@code "host netns"} or {@code "netns net:[4026532]@4"}
 * @param exitCode the process exit code
 * @param stdout standard output, decoded as UTF-8
 * @param stderr standard error, decoded as UTF-8
 * @param took wall-clock time from start to exit
 */
public record CommandResult(
        List<String> command, String where, int exitCode, String stdout, String stderr, Duration took) {
    public CommandResult {
        command = List.copyOf(command);
        Objects.requireNonNull(where, "where");
        Objects.requireNonNull(stdout, "stdout");
        Objects.requireNonNull(stderr, "stderr");
        Objects.requireNonNull(took, "took");
    }

    public boolean succeeded() {
        return exitCode == 0;
    }

    /** The command line, space separated, for messages. */
    public String commandLine() {
        return String.join(" ", command);
    }

    /**
     * This result if the command exited 0.
     *
     * @throws CommandException naming the command, where it ran, its exit code and stderr
     */
    public CommandResult orThrow() throws CommandException {
        if (succeeded()) {
            return this;
        }
        throw CommandException.failed(this);
    }
}
