package io.ztunnel.cni.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A network namespace made for one test with {@code ip netns add} under a unique name, with {@code
 * lo} up; {@link #close()} deletes it (use try-with-resources so it goes even when the test fails).
 * Commands run inside with {@link #exec}.
 */
public final class TestNetns implements AutoCloseable {
    private static final AtomicInteger COUNTER = new AtomicInteger();

    private final String name;
    private final AtomicInteger interfaces = new AtomicInteger();

    private TestNetns(String name) {
        this.name = name;
    }

    public static TestNetns create() throws IOException {
        String name = "ztj-" + ProcessHandle.current().pid() + "-" + COUNTER.incrementAndGet();
        run("ip", "netns", "add", name);
        TestNetns netns = new TestNetns(name);
        try {
            netns.exec("ip", "link", "set", "lo", "up");
        } catch (IOException | RuntimeException e) {
            netns.close();
            throw e;
        }
        return netns;
    }

    public String name() {
        return name;
    }

    /** {@code /var/run/netns/<name>}, the path {@code ip netns} bind-mounts the namespace at. */
    public Path path() {
        return Path.of("/var/run/netns", name);
    }

    /**
     * Gives the namespace an interface with {@code cidr} (and so a route to its subnet): one end of a
     * veth pair whose other end stays in the namespace too, both up. (Not every kernel has the dummy
     * link type; veth is what pods use anyway.)
     */
    public void addInterface(String cidr) throws IOException {
        int n = interfaces.getAndIncrement();
        exec("ip", "link", "add", "v" + n + "a", "type", "veth", "peer", "name", "v" + n + "b");
        if (cidr.contains(":")) {
            exec("ip", "-6", "addr", "add", cidr, "dev", "v" + n + "a", "nodad");
        } else {
            exec("ip", "addr", "add", cidr, "dev", "v" + n + "a");
        }
        exec("ip", "link", "set", "v" + n + "a", "up");
        exec("ip", "link", "set", "v" + n + "b", "up");
    }

    /** Runs a command inside the namespace; throws with its output if it fails. */
    public String exec(String... command) throws IOException {
        List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", name));
        full.addAll(List.of(command));
        return run(full.toArray(String[]::new));
    }

    /** Runs a command; throws with its output if it exits non-zero. */
    public static String run(String... command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timed out: " + String.join(" ", command));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", command), e);
        }
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " exited with " + p.exitValue() + ": " + out.strip());
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        run("ip", "netns", "del", name);
    }
}
