package io.ztunnel.xds.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The watcher against real file operations: in-place edits, rename-replace, ConfigMap symlink swaps, broken edits, close. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LocalConfigWatcherTest {

    @TempDir
    Path dir;

    /** Records every callback with the thread it ran on. */
    static final class Recorder implements LocalConfigWatcher.Listener {
        final List<Object> events = new CopyOnWriteArrayList<>();
        final List<String> threads = new CopyOnWriteArrayList<>();

        @Override
        public void onConfig(LocalConfig config) {
            threads.add(Thread.currentThread().getName());
            events.add(config);
        }

        @Override
        public void onError(LocalConfigException error) {
            threads.add(Thread.currentThread().getName());
            events.add(error);
        }

        Object last() {
            return events.getLast();
        }

        List<String> workloadNames(Object event) {
            return ((LocalConfig) event)
                    .workloads().stream().map(a -> a.getWorkload().getName()).toList();
        }
    }

    @Nullable
    LocalConfigWatcher watcher;

    @AfterEach
    void tearDown() {
        if (watcher != null) {
            watcher.close();
        }
    }

    static String config(String... workloadNames) {
        StringBuilder sb = new StringBuilder("workloads:\n");
        int i = 1;
        for (String name : workloadNames) {
            sb.append("- {uid: ")
                    .append(name)
                    .append(", name: ")
                    .append(name)
                    .append(", namespace: default, workloadIps: [\"10.0.0.")
                    .append(i++)
                    .append("\"], services: {}}\n");
        }
        if (workloadNames.length == 0) {
            sb.append("  []\n");
        }
        return sb.toString();
    }

    LocalConfigWatcher start(Path file, Recorder recorder) throws IOException {
        watcher = LocalConfigWatcher.start(file, Duration.ofMillis(100), Duration.ofSeconds(30), recorder);
        return watcher;
    }

    @Test
    void reportsTheInitialContentThenAnInPlaceEdit() throws Exception {
        Path file = dir.resolve("local.yaml");
        Files.writeString(file, config("a"));
        Recorder recorder = new Recorder();
        start(file, recorder);

        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() == 1);
        assertThat(recorder.workloadNames(recorder.last())).containsExactly("a");

        Files.writeString(file, config("a", "b"));
        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() == 2);
        assertThat(recorder.workloadNames(recorder.last())).containsExactly("a", "b");
        assertThat(recorder.threads).allMatch("local-config-watcher"::equals);
    }

    @Test
    void seesARenameReplaceLikeAnEditorSave() throws Exception {
        Path file = dir.resolve("local.yaml");
        Files.writeString(file, config("a"));
        Recorder recorder = new Recorder();
        start(file, recorder);
        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() == 1);

        Path tmp = dir.resolve(".local.yaml.swp");
        Files.writeString(tmp, config("c"));
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);

        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() == 2);
        assertThat(recorder.workloadNames(recorder.last())).containsExactly("c");
    }

    @Test
    void seesAConfigMapStyleSymlinkSwap() throws Exception {
        // Kubernetes layout: local.yaml -> ..data/local.yaml, ..data -> ..v1; an update creates ..v2
        // and atomically renames a new ..data symlink over the old one.
        Path v1 = Files.createDirectory(dir.resolve("..v1"));
        Files.writeString(v1.resolve("local.yaml"), config("v1"));
        Files.createSymbolicLink(dir.resolve("..data"), Path.of("..v1"));
        Path file = dir.resolve("local.yaml");
        Files.createSymbolicLink(file, Path.of("..data/local.yaml"));

        Recorder recorder = new Recorder();
        start(file, recorder);
        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() == 1);
        assertThat(recorder.workloadNames(recorder.last())).containsExactly("v1");

        Path v2 = Files.createDirectory(dir.resolve("..v2"));
        Files.writeString(v2.resolve("local.yaml"), config("v2"));
        Path tmpLink = Files.createSymbolicLink(dir.resolve("..data_tmp"), Path.of("..v2"));
        Files.move(tmpLink, dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE);

        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() == 2);
        assertThat(recorder.workloadNames(recorder.last())).containsExactly("v2");
    }

    @Test
    void reportsABrokenEditAsAnErrorAndRecovers() throws Exception {
        Path file = dir.resolve("local.yaml");
        Files.writeString(file, config("a"));
        Recorder recorder = new Recorder();
        start(file, recorder);
        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() == 1);

        Files.writeString(file, "workloads:\n- {namespace: n, workloadIps: [], services: {}, protocl: TCP}\n");
        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() == 2);
        assertThat(recorder.last()).isInstanceOf(LocalConfigException.class);
        LocalConfigException error = (LocalConfigException) recorder.last();
        assertThat(error.path()).isEqualTo("workloads[0].protocl");
        assertThat(error.line()).isEqualTo(2);
        assertThat(error.source()).isEqualTo(file.toAbsolutePath().toString());

        Files.writeString(file, "workloads: [\n");
        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() == 3);
        assertThat(recorder.last()).isInstanceOf(LocalConfigException.class);

        Files.writeString(file, config("fixed"));
        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() == 4);
        assertThat(recorder.workloadNames(recorder.last())).containsExactly("fixed");
    }

    @Test
    void reportsAMissingFileAndPicksItUpWhenCreated() throws Exception {
        Path file = dir.resolve("later.yaml");
        Recorder recorder = new Recorder();
        start(file, recorder);
        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() == 1);
        assertThat(((LocalConfigException) recorder.last()).reason()).startsWith("cannot read file");

        Files.writeString(file, config("born"));
        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() == 2);
        assertThat(recorder.workloadNames(recorder.last())).containsExactly("born");
    }

    @Test
    void doesNotReportUnchangedContentOrUnrelatedFiles() throws Exception {
        Path file = dir.resolve("local.yaml");
        Files.writeString(file, config("a"));
        Recorder recorder = new Recorder();
        start(file, recorder);
        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() == 1);

        Files.writeString(file, config("a")); // same bytes
        Files.writeString(dir.resolve("unrelated.txt"), "x");
        // Nothing to wait for when nothing is reported: a window of four debounce periods (100 ms) in which the
        // event count must stay at one throughout.
        await().during(Duration.ofMillis(400)).atMost(Duration.ofSeconds(2)).until(() -> recorder.events.size() == 1);
        // A later real change is reported, and is the second event: nothing came in between, nor after.
        Files.writeString(file, config("b"));
        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() >= 2);
        await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2)).until(() -> recorder.events.size() == 2);
        assertThat(recorder.workloadNames(recorder.last())).containsExactly("b");
    }

    @Test
    void aThrowingListenerDoesNotStopTheWatcher() throws Exception {
        Path file = dir.resolve("local.yaml");
        Files.writeString(file, config("a"));
        AtomicReference<LocalConfig> seen = new AtomicReference<>();
        watcher = LocalConfigWatcher.start(
                file, Duration.ofMillis(50), Duration.ofSeconds(30), new LocalConfigWatcher.Listener() {
                    @Override
                    public void onConfig(LocalConfig config) {
                        seen.set(config);
                        throw new IllegalStateException("listener bug");
                    }

                    @Override
                    public void onError(LocalConfigException error) {}
                });
        await().atMost(Duration.ofSeconds(10)).until(() -> seen.get() != null);
        Files.writeString(file, config("a", "b"));
        await().atMost(Duration.ofSeconds(10))
                .until(() -> seen.get().workloads().size() == 2);
    }

    @Test
    void stopsOnClose() throws Exception {
        Path file = dir.resolve("local.yaml");
        Files.writeString(file, config("a"));
        Recorder recorder = new Recorder();
        LocalConfigWatcher started = start(file, recorder);
        await().atMost(Duration.ofSeconds(10)).until(() -> recorder.events.size() == 1);

        started.close();
        started.close(); // idempotent
        assertThat(Thread.getAllStackTraces().keySet())
                .noneMatch(t -> t.getName().equals("local-config-watcher") && t.isAlive());

        Files.writeString(file, config("a", "b"));
        // A closed watcher reports nothing: a window of five debounce periods in which the count must stay at one.
        await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2)).until(() -> recorder.events.size() == 1);
    }

    @Test
    void rejectsADirectoryThatCannotBeWatched() {
        assertThatThrownBy(() -> LocalConfigWatcher.start(dir.resolve("missing/local.yaml"), new Recorder()))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("cannot watch directory");
    }
}
