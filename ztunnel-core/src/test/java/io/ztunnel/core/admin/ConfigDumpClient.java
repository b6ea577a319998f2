package io.ztunnel.core.admin;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.opentest4j.TestAbortedException;

/**
 * An independent reader of {@code /config_dump}: the Go program in {@code src/test/go/configdump}, which decodes a dump
 * with Go's {@code encoding/json} into types written from istioctl's (lenient, as istioctl is), checks what istioctl's
 * printers rely on, and decodes it again strictly against upstream's full key set. It uses the standard library only
 * and is built once per test JVM, offline.
 *
 * <p>Without a {@code go} command the calling test is skipped, except in CI ({@code CI=true}), where that fails:
 * {@code .ci/run} makes sure Go is installed.
 */
public final class ConfigDumpClient {
    private static final Path SOURCE = Path.of("src/test/go/configdump").toAbsolutePath();
    private static final Path WORK = Path.of("target/go").toAbsolutePath();
    private static @Nullable Path binary;

    private ConfigDumpClient() {}

    /** Decodes {@code dump}; returns the checker's summary (counts of what it decoded), or fails with its findings. */
    public static JsonNode check(String dump) throws Exception {
        Path exe = build();
        Path file = Files.createTempFile(Files.createDirectories(WORK), "dump-", ".json");
        Path errors = Files.createTempFile(WORK, "dump-", ".err");
        try {
            Files.writeString(file, dump, StandardCharsets.UTF_8);
            Process p = new ProcessBuilder(exe.toString(), file.toString())
                    .redirectError(errors.toFile())
                    .start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            String err = Files.readString(errors, StandardCharsets.UTF_8);
            assertThat(p.exitValue())
                    .as("the Go client rejected the dump:\n%s\ndump:\n%s", err, dump)
                    .isZero();
            return new ObjectMapper().readTree(out);
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(errors);
        }
    }

    private static synchronized Path build() throws IOException, InterruptedException {
        if (binary != null) {
            return binary;
        }
        String go = findGo();
        if (go == null) {
            assertThat(System.getenv("CI"))
                    .as("Go must be installed in CI (.ci/run installs it)")
                    .isNotEqualTo("true");
            throw new TestAbortedException("no go command: the independent config_dump client cannot run");
        }
        Path exe = WORK.resolve("configdump-check");
        ProcessBuilder pb = new ProcessBuilder(go, "build", "-o", exe.toString(), ".")
                .directory(SOURCE.toFile())
                .redirectErrorStream(true);
        pb.environment().put("GOTOOLCHAIN", "local");
        pb.environment().put("GOPROXY", "off");
        pb.environment().put("GOFLAGS", "-mod=mod");
        if (System.getenv("HOME") == null && System.getenv("GOCACHE") == null) {
            // Go needs a build cache; the user's (kept across builds) when there is a home.
            pb.environment().put("GOCACHE", WORK.resolve("cache").toString());
        }
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("go build finishes").isTrue();
        assertThat(p.exitValue()).as("go build:\n%s", out).isZero();
        binary = exe;
        return exe;
    }

    private static @Nullable String findGo() {
        String path = System.getenv("PATH") == null ? "" : System.getenv("PATH");
        for (String dir : List.of((path + ":/usr/local/go/bin").split(":"))) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "go"))) {
                return Path.of(dir, "go").toString();
            }
        }
        return null;
    }
}
