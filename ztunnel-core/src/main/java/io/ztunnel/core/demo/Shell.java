package io.ztunnel.core.demo;

import io.ztunnel.core.util.Errors;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs host commands (ip, iptables, sysctl) with a timeout; failures name the command and its stderr. Stateless. */
public final class Shell {
    private Shell() {}

    /** The result of a command. */
    public record Result(int exitCode, String stdout, String stderr) {}

    public static Result run(List<String> command) {
        try {
            Process p = new ProcessBuilder(command)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
            byte[] out = p.getInputStream().readAllBytes();
            byte[] err = p.getErrorStream().readAllBytes();
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException(String.join(" ", command) + ": timed out");
            }
            return new Result(
                    p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new IllegalStateException(String.join(" ", command) + ": " + Errors.message(e), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(String.join(" ", command) + ": interrupted", e);
        }
    }

    /** Runs and requires success. */
    public static String check(String... command) {
        Result r = run(List.of(command));
        if (r.exitCode() != 0) {
            throw new IllegalStateException(String.join(" ", command) + " failed (exit " + r.exitCode() + "): "
                    + r.stderr().strip());
        }
        return r.stdout();
    }

    /** Runs inside a named network namespace ({@code ip netns exec}) and requires success. */
    public static String inNetns(String netns, String... command) {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", netns));
        full.addAll(List.of(command));
        return check(full.toArray(new String[0]));
    }

    /** Runs and ignores failure (cleanup). */
    public static void quietly(String... command) {
        try {
            run(List.of(command));
        } catch (RuntimeException ignored) {
            // best effort
        }
    }
}
