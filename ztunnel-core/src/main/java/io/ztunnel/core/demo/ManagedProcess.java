package io.ztunnel.core.demo;

import io.ztunnel.core.util.Errors;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * A Java program (daemon or node agent) started as its own process inside a network namespace, with its output in a
 * log file. Uses this JVM's java binary and class path. Not thread-safe.
 */
public final class ManagedProcess implements AutoCloseable {
    private final String name;
    private final Path log;
    private final Process process;

    private ManagedProcess(String name, Path log, Process process) {
        this.name = name;
        this.log = log;
        this.process = process;
    }

    /**
     * Starts {@code mainClass} in {@code netns} (null: this namespace).
     *
     * @param jvmOptions extra JVM flags
     */
    public static ManagedProcess start(
            String name,
            @Nullable String netns,
            String mainClass,
            List<String> args,
            Map<String, String> env,
            List<String> jvmOptions,
            Path log) {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse("java"));
        command.add("--enable-native-access=ALL-UNNAMED");
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(mainClass);
        command.addAll(args);
        return startCommand(name, netns, command, env, log);
    }

    /**
     * Starts {@code command} (e.g. a launcher script such as {@code bin/ztunnel}, with its own class path and JVM
     * flags) in {@code netns} (null: this namespace).
     */
    public static ManagedProcess startCommand(
            String name, @Nullable String netns, List<String> command, Map<String, String> env, Path log) {
        List<String> full = new ArrayList<>();
        if (netns != null) {
            full.addAll(List.of("ip", "netns", "exec", netns));
        }
        full.addAll(command);
        ProcessBuilder builder = new ProcessBuilder(full)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        builder.environment()
                .keySet()
                .removeIf(k -> k.startsWith("ISTIO_")
                        || k.startsWith("XDS_")
                        || k.startsWith("CA_")
                        || k.equals("KUBERNETES_SERVICE_HOST"));
        // A launcher picks its own jar: a class path handed down from this process (ZTUNNEL_JAR of ./bench or
        // ./demo) is not the one the launched program ships with.
        builder.environment().remove("ZTUNNEL_JAR");
        builder.environment().putAll(env);
        try {
            return new ManagedProcess(name, log, builder.start());
        } catch (IOException e) {
            throw new IllegalStateException("cannot start " + name + ": " + Errors.message(e), e);
        }
    }

    public String name() {
        return name;
    }

    public Path log() {
        return log;
    }

    /** The process id (with {@code ip netns exec} the launcher execs the program, so it is the program's). */
    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Exit status once ended, or -1 while running. */
    public int exitCode() {
        return process.isAlive() ? -1 : process.exitValue();
    }

    public boolean waitFor(long seconds) throws InterruptedException {
        return process.waitFor(seconds, TimeUnit.SECONDS);
    }

    /** The process's output so far. */
    public String output() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** SIGKILL (a crash: no shutdown code runs), and waits up to 10 s for the process to be gone. */
    public void kill() {
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** SIGTERM, then SIGKILL if it has not ended within {@code seconds}. */
    public void stop(long seconds) {
        if (!process.isAlive()) {
            return;
        }
        process.destroy();
        try {
            if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }

    @Override
    public void close() {
        stop(15);
    }
}
