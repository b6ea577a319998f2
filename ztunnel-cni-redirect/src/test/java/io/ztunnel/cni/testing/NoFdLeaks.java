package io.ztunnel.cni.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test that leaves file descriptors open: compares {@code /proc/self/fd} after the test
 * with the set before it (waiting up to 5 s for asynchronous closes). Fds the JVM opens lazily and
 * keeps (jar files of newly loaded classes, the entropy devices) are not counted.
 */
public final class NoFdLeaks implements BeforeEachCallback, AfterEachCallback {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(NoFdLeaks.class);

    private static final String LISTING_DIR = "/proc/" + ProcessHandle.current().pid() + "/fd";

    @Override
    public void beforeEach(ExtensionContext context) {
        context.getStore(NS).put("fds", openFds());
    }

    @Override
    public void afterEach(ExtensionContext context) throws InterruptedException {
        @SuppressWarnings("unchecked")
        Map<String, String> before = context.getStore(NS).get("fds", Map.class);
        if (before == null) {
            throw new IllegalStateException("no open-fd list recorded before the test");
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        Map<String, String> leaked;
        do {
            leaked = new HashMap<>(openFds());
            leaked.entrySet().removeIf(e -> e.getValue().equals(before.get(e.getKey())));
            leaked.values().removeIf(NoFdLeaks::isJvmOwned);
            if (leaked.isEmpty()) {
                return;
            }
            Thread.sleep(50);
        } while (System.nanoTime() < deadline);
        assertThat(leaked)
                .as("file descriptors left open by the test (fd -> target)")
                .isEmpty();
    }

    private static boolean isJvmOwned(String target) {
        // Opened once and kept: jars of newly loaded classes, the JDK's own files, and the entropy
        // devices SecureRandom opens on first use.
        return target.endsWith(".jar")
                || target.contains("/lib/jvm/")
                || target.endsWith(".so")
                || target.equals("/dev/random")
                || target.equals("/dev/urandom");
    }

    /** fd number → link target. */
    public static Map<String, String> openFds() {
        Map<String, String> fds = new HashMap<>();
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path p : dir) {
                try {
                    String target = Files.readSymbolicLink(p).toString();
                    if (!target.equals(LISTING_DIR)) { // the fd this listing itself reads through
                        fds.put(p.getFileName().toString(), target);
                    }
                } catch (IOException e) {
                    // The fd used to list the directory is gone by now.
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot list /proc/self/fd", e);
        }
        return fds;
    }

    public static int count() {
        return openFds().size();
    }
}
