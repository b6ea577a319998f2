package io.ztunnel.cni.exec;

import io.ztunnel.cni.ErrorText;
import io.ztunnel.cni.linux.PodNetns;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs external commands, each with a timeout and with stdout and stderr captured, either in this
 * process's own network namespace ({@link #host()}) or inside a pod's ({@link #in(PodNetns)}).
 *
 * <p><b>How a command gets into a pod's namespace.</b> {@code setns} is per thread, and whether a
 * child process inherits the namespace of the thread that started it depends on how the JDK
 * spawns processes (posix_spawn through a helper, vfork, ...), which is not a contract. So the
 * namespace is never inherited: the command is run as {@code nsenter --net=/proc/<our pid>/fd/<n>
 * -- <argv>}, where {@code n} is the pod's netns fd held by {@link PodNetns}. nsenter opens that
 * magic link, which refers to exactly the namespace our fd refers to (even if the pod's bind mount
 * under {@code /var/run/netns} was removed or replaced meanwhile), calls {@code setns} and execs the
 * tool. The fd is kept open for the whole run with {@link PodNetns#withFd}, so its number cannot be
 * closed and reused by another file while nsenter looks it up. Needs {@code nsenter} (util-linux)
 * and, like everything here, root or CAP_SYS_ADMIN.
 *
 * <p><b>Threading.</b> Stateless apart from the netns reference; any thread may call {@link #run}.
 * The calling thread blocks until the command exits or times out. For a pod runner the netns lock
 * is held meanwhile, so {@link PodNetns#close()} (and ZDS sends of that fd) wait for the command.
 * <b>Ownership.</b> The runner never owns the {@link PodNetns}. Each process it starts is waited
 * for, and destroyed forcibly when it outlives its timeout; its pipes are closed before returning.
 */
public final class CommandRunner {
    private static final Logger log = LoggerFactory.getLogger(CommandRunner.class);
    private static final long PID = ProcessHandle.current().pid();

    private final @Nullable PodNetns netns;

    private CommandRunner(@Nullable PodNetns netns) {
        this.netns = netns;
    }

    /** Commands in this process's own network namespace. */
    public static CommandRunner host() {
        return new CommandRunner(null);
    }

    /** Commands inside {@code netns}, which must stay open while commands run. */
    public static CommandRunner in(PodNetns netns) {
        return new CommandRunner(Objects.requireNonNull(netns, "netns"));
    }

    /** Where commands run, for messages: {@code "host netns"} or {@code "netns net:[..]@.."}. */
    public String where() {
        return netns == null ? "host netns" : "netns " + netns.id();
    }

    /** {@link #run(List, byte[], Duration)} without stdin. */
    public CommandResult run(List<String> argv, Duration timeout) throws CommandException {
        return run(argv, null, timeout);
    }

    /**
     * Runs {@code argv} and waits for it. A non-zero exit is not an error here: check {@link
     * CommandResult#succeeded()} or call {@link CommandResult#orThrow()}.
     *
     * @param stdin bytes written to the command's stdin, which is then closed (null: closed at once)
     * @throws CommandException if the command cannot be started, the netns is closed, or it did not
     *     exit within {@code timeout} (it is killed)
     */
    public CommandResult run(List<String> argv, byte @Nullable [] stdin, Duration timeout) throws CommandException {
        if (argv.isEmpty()) {
            throw new IllegalArgumentException("empty command");
        }
        List<String> command = List.copyOf(argv);
        if (netns == null) {
            return exec(command, command, stdin, timeout);
        }
        try {
            return netns.withFd(fd -> {
                List<String> full = new ArrayList<>(4 + command.size());
                full.add("nsenter");
                full.add("--net=/proc/" + PID + "/fd/" + fd);
                full.add("--");
                full.addAll(command);
                return exec(full, command, stdin, timeout);
            });
        } catch (CommandException e) {
            throw e;
        } catch (IllegalStateException | IOException e) {
            throw new CommandException(
                    "\"" + String.join(" ", command) + "\" cannot run in " + where() + ": " + ErrorText.of(e),
                    command,
                    CommandException.NO_EXIT_CODE,
                    "",
                    e);
        }
    }

    private CommandResult exec(List<String> full, List<String> command, byte @Nullable [] stdin, Duration timeout)
            throws CommandException {
        String line = String.join(" ", command);
        long start = System.nanoTime();
        ProcessBuilder builder = new ProcessBuilder(full);
        builder.environment().put("LC_ALL", "C"); // stable, parseable messages
        Process process;
        try {
            process = builder.start();
        } catch (IOException e) {
            throw new CommandException(
                    "\"" + line + "\" could not be started in " + where() + ": " + ErrorText.of(e),
                    command,
                    CommandException.NO_EXIT_CODE,
                    "",
                    e);
        }
        CompletableFuture<String> out = drain(process.getInputStream());
        CompletableFuture<String> err = drain(process.getErrorStream());
        try (OutputStream in = process.getOutputStream()) {
            if (stdin != null) {
                in.write(stdin);
            }
        } catch (IOException e) {
            // The command exited without reading all of its input; its exit code and stderr say why.
        }
        try {
            if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                process.destroyForcibly();
                process.waitFor(2, TimeUnit.SECONDS);
                String soFar = collect(err, Duration.ofMillis(200));
                throw new CommandException(
                        "\""
                                + line
                                + "\" in "
                                + where()
                                + " did not finish within "
                                + timeout
                                + " and was killed"
                                + (soFar.isBlank() ? "" : "; stderr so far: " + soFar.strip()),
                        command,
                        CommandException.NO_EXIT_CODE,
                        soFar,
                        null);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new CommandException(
                    "interrupted while \"" + line + "\" ran in " + where(),
                    command,
                    CommandException.NO_EXIT_CODE,
                    "",
                    e);
        }
        CommandResult result = new CommandResult(
                command,
                where(),
                process.exitValue(),
                collect(out, Duration.ofSeconds(2)),
                collect(err, Duration.ofSeconds(2)),
                Duration.ofNanos(System.nanoTime() - start));
        log.atDebug()
                .setMessage("command finished")
                .addKeyValue("command", line)
                .addKeyValue("where", result.where())
                .addKeyValue("exit", result.exitCode())
                .addKeyValue("ms", result.took().toMillis())
                .log();
        return result;
    }

    /** Reads a pipe to its end on a virtual thread, so a chatty command never blocks on a full pipe. */
    private static CompletableFuture<String> drain(InputStream stream) {
        CompletableFuture<String> f = new CompletableFuture<>();
        Thread.ofVirtual().name("command-pipe").start(() -> {
            try (stream) {
                f.complete(new String(stream.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                f.complete("");
            }
        });
        return f;
    }

    private static String collect(CompletableFuture<String> f, Duration wait) {
        try {
            return f.get(wait.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "";
        } catch (ExecutionException | TimeoutException e) {
            return "";
        }
    }

    @Override
    public String toString() {
        return "CommandRunner{" + where() + "}";
    }
}
