package io.ztunnel.cni.agent.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ztunnel.cni.agent.ClusterView;
import io.ztunnel.cni.agent.enrollment.Pod;
import io.ztunnel.cni.testing.NoFdLeaks;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/** Watching the local file: in-place edits, rename-replace, symlink swaps, broken edits. */
@ExtendWith(NoFdLeaks.class)
class LocalFileSourceTest {
    @TempDir
    Path dir;

    private static String pods(String... names) {
        StringBuilder sb = new StringBuilder("pods:\n");
        for (String n : names) {
            sb.append("  - {name: ")
                    .append(n)
                    .append(", namespace: demo, netns: ")
                    .append(n)
                    .append("}\n");
        }
        if (names.length == 0) {
            sb.append("  []\n");
        }
        return sb.toString();
    }

    private static String names(ClusterView v) {
        return String.join(",", v.pods().stream().map(Pod::name).toList());
    }

    private static String next(BlockingQueue<ClusterView> q) throws InterruptedException {
        ClusterView v = q.poll(5, TimeUnit.SECONDS);
        assertThat(v).as("a new view within 5 s").isNotNull();
        return names(v);
    }

    @Test
    void deliversTheFileAtStartAndEveryValidEdit() throws Exception {
        Path file = dir.resolve("pods.yaml");
        Files.writeString(file, pods("a"));
        BlockingQueue<ClusterView> views = new LinkedBlockingQueue<>();
        try (LocalFileSource source = new LocalFileSource(file)) {
            source.start(views::add);
            assertThat(views.poll())
                    .as("first view delivered before start returns")
                    .isNotNull();

            Files.writeString(file, pods("a", "b")); // in place
            assertThat(next(views)).isEqualTo("a,b");

            Path tmp = dir.resolve(".pods.yaml.swp");
            Files.writeString(tmp, pods("b"));
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE); // editor-style replace
            assertThat(next(views)).isEqualTo("b");

            Files.writeString(file, "pods:\n  - {name: x, namespace: demo, netns: x, color: red}\n");
            assertThat(views.poll(800, TimeUnit.MILLISECONDS))
                    .as("broken edit ignored")
                    .isNull();
            Files.writeString(file, pods()); // valid again: delivered
            assertThat(next(views)).isEmpty();

            Files.writeString(file, pods()); // same bytes: nothing to deliver
            assertThat(views.poll(500, TimeUnit.MILLISECONDS)).isNull();
        }
    }

    @Test
    void followsAConfigMapStyleSymlinkSwap() throws Exception {
        // dir/pods.yaml -> ..data/pods.yaml, ..data -> ..v1; an update makes ..v2 and swaps ..data.
        Files.createDirectory(dir.resolve("..v1"));
        Files.writeString(dir.resolve("..v1/pods.yaml"), pods("a"));
        Files.createSymbolicLink(dir.resolve("..data"), Path.of("..v1"));
        Path file = dir.resolve("pods.yaml");
        Files.createSymbolicLink(file, Path.of("..data/pods.yaml"));
        BlockingQueue<ClusterView> views = new LinkedBlockingQueue<>();
        try (LocalFileSource source = new LocalFileSource(file)) {
            source.start(views::add);
            assertThat(names(views.take())).isEqualTo("a");

            Files.createDirectory(dir.resolve("..v2"));
            Files.writeString(dir.resolve("..v2/pods.yaml"), pods("a", "c"));
            Files.createSymbolicLink(dir.resolve("..data_tmp"), Path.of("..v2"));
            Files.move(dir.resolve("..data_tmp"), dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE);
            assertThat(next(views)).isEqualTo("a,c");
        }
    }

    @Test
    void burstsOfWritesAreDebouncedIntoOneReload() throws Exception {
        Path file = dir.resolve("pods.yaml");
        Files.writeString(file, pods("a"));
        BlockingQueue<ClusterView> views = new LinkedBlockingQueue<>();
        // A debounce far longer than the gaps in the burst, so that a slow machine cannot split the burst in two.
        Duration debounce = Duration.ofSeconds(1);
        try (LocalFileSource source = new LocalFileSource(file, debounce)) {
            source.start(views::add);
            views.take();
            for (String n : new String[] {"b", "c", "d", "e"}) {
                Files.writeString(file, pods(n));
                Thread.sleep(20); // part of the scenario: writes that arrive apart, but within the debounce
            }
            assertThat(next(views)).isEqualTo("e");
            // Nothing more may come: no event follows the burst, so any further view would be a second reload of
            // it. Two debounce periods are the window in which one would have shown up.
            assertThat(views.poll(2 * debounce.toMillis(), TimeUnit.MILLISECONDS))
                    .isNull();
        }
    }

    @Test
    void aBrokenOrMissingFileAtStartIsAnError() throws Exception {
        Path file = dir.resolve("pods.yaml");
        assertThatThrownBy(() -> new LocalFileSource(file).start(v -> {})).isInstanceOf(NoSuchFileException.class);
        Files.writeString(file, "pods: [oops\n");
        assertThatThrownBy(() -> new LocalFileSource(file).start(v -> {}))
                .isInstanceOf(LocalConfigException.class)
                .hasMessageStartingWith(file + ": line ");
    }
}
