package io.ztunnel.cni.agent.local;

import io.ztunnel.cni.ErrorText;
import io.ztunnel.cni.agent.ClusterView;
import io.ztunnel.cni.agent.PodSource;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The local config file as a {@link PodSource}: parsed once at {@link #start}, then watched and
 * re-parsed whenever it changes; every valid version is delivered as a new {@link ClusterView}.
 *
 * <p>Watching: the file's parent directory is watched (and, when the file is a symlink, the
 * directory of its current target too), because editors replace files by renaming a new one over
 * them and Kubernetes ConfigMap mounts swap a {@code ..data} symlink; neither touches the old file.
 * Any event there starts a debounce (default 150 ms without further events), after which the file
 * is read; if its bytes did not change nothing happens. A version that does not parse (or a file
 * that is missing) is logged once and ignored: the last good view stays in force.
 *
 * <p>Threading: one platform daemon thread, "local-config-watch", does all watching, reading,
 * parsing and listener calls. <b>Ownership.</b> Owns its {@link WatchService}, closed by {@link
 * #close()}.
 */
public final class LocalFileSource implements PodSource {
    private static final Logger log = LoggerFactory.getLogger(LocalFileSource.class);

    private final Path file;
    private final Duration debounce;
    private final Object lock = new Object();
    private @Nullable WatchService watcher; // guarded by lock
    private @Nullable Thread thread; // guarded by lock
    private boolean closed; // guarded by lock

    // Confined to the watch thread after start().
    private final Set<Path> watchedDirs = new HashSet<>();
    private byte @Nullable [] lastBytes;
    private @Nullable String lastError;

    public LocalFileSource(Path file) {
        this(file, Duration.ofMillis(150));
    }

    public LocalFileSource(Path file, Duration debounce) {
        this.file = file.toAbsolutePath().normalize();
        this.debounce = Objects.requireNonNull(debounce, "debounce");
    }

    public Path file() {
        return file;
    }

    /**
     * Parses the file and hands the view to {@code listener} on the calling thread, then starts
     * watching.
     *
     * @throws IOException if the file cannot be read, or a {@link LocalConfigException} if it does
     *     not parse
     */
    @Override
    public void start(Consumer<ClusterView> listener) throws IOException {
        Objects.requireNonNull(listener, "listener");
        WatchService ws = file.getFileSystem().newWatchService();
        try {
            byte[] bytes = Files.readAllBytes(file);
            ClusterView view = LocalConfig.parse(new String(bytes, StandardCharsets.UTF_8), file.toString());
            lastBytes = bytes;
            register(ws);
            log.atInfo()
                    .setMessage("local config loaded")
                    .addKeyValue("file", file)
                    .addKeyValue("namespaces", view.namespaces().size())
                    .addKeyValue("pods", view.pods().size())
                    .log();
            listener.accept(view);
            synchronized (lock) {
                if (closed) {
                    ws.close();
                    return;
                }
                watcher = ws;
                thread = Thread.ofPlatform()
                        .name("local-config-watch")
                        .daemon(true)
                        .start(() -> watchLoop(ws, listener));
            }
        } catch (IOException | RuntimeException e) {
            ws.close();
            throw e;
        }
    }

    /** Watches the file's directory, and the directory of the symlink target if it is elsewhere. */
    private void register(WatchService ws) throws IOException {
        Set<Path> dirs = new HashSet<>();
        dirs.add(Objects.requireNonNull(file.getParent(), "file has no parent directory"));
        try {
            Path real = file.toRealPath();
            if (real.getParent() != null) {
                dirs.add(real.getParent());
            }
        } catch (IOException e) {
            // Missing right now (mid-rename): the parent directory is enough to see it come back.
        }
        for (Path dir : dirs) {
            if (watchedDirs.add(dir)) {
                dir.register(
                        ws,
                        StandardWatchEventKinds.ENTRY_CREATE,
                        StandardWatchEventKinds.ENTRY_MODIFY,
                        StandardWatchEventKinds.ENTRY_DELETE);
            }
        }
    }

    private void watchLoop(WatchService ws, Consumer<ClusterView> listener) {
        try {
            while (true) {
                WatchKey key = ws.take();
                drain(key);
                // Debounce: wait until the directory has been quiet for a while.
                WatchKey more;
                while ((more = ws.poll(debounce.toNanos(), TimeUnit.NANOSECONDS)) != null) {
                    drain(more);
                }
                reload(ws, listener);
            }
        } catch (InterruptedException | ClosedWatchServiceException e) {
            // close()
        } catch (RuntimeException e) {
            log.atError()
                    .setMessage("local config watcher died")
                    .addKeyValue("file", file)
                    .setCause(e)
                    .log();
        }
    }

    private static void drain(WatchKey key) {
        key.pollEvents();
        key.reset();
    }

    private void reload(WatchService ws, Consumer<ClusterView> listener) {
        byte[] bytes;
        try {
            register(ws);
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            reportOnce("local config file is missing; keeping the last good version");
            return;
        } catch (IOException e) {
            reportOnce("cannot read local config file (" + ErrorText.of(e) + "); keeping the last good version");
            return;
        }
        if (lastBytes != null && Arrays.equals(bytes, lastBytes)) {
            return;
        }
        ClusterView view;
        try {
            view = LocalConfig.parse(new String(bytes, StandardCharsets.UTF_8), file.toString());
        } catch (LocalConfigException e) {
            reportOnce("invalid local config ignored, keeping the last good version: " + ErrorText.of(e));
            return;
        }
        lastBytes = bytes;
        lastError = null;
        log.atInfo()
                .setMessage("local config changed")
                .addKeyValue("file", file)
                .addKeyValue("namespaces", view.namespaces().size())
                .addKeyValue("pods", view.pods().size())
                .log();
        try {
            listener.accept(view);
        } catch (RuntimeException e) {
            log.atError().setMessage("pod view listener failed").setCause(e).log();
        }
    }

    private void reportOnce(String message) {
        if (!message.equals(lastError)) {
            lastError = message;
            log.atError().setMessage(message).addKeyValue("file", file).log();
        }
    }

    /** Stops watching and waits (up to 5 s) for the watch thread to end. */
    @Override
    public void close() {
        WatchService ws;
        Thread t;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            ws = watcher;
            t = thread;
        }
        if (ws != null) {
            try {
                ws.close();
            } catch (IOException e) {
                log.atDebug()
                        .setMessage("closing watch service failed")
                        .setCause(e)
                        .log();
            }
        }
        if (t != null && t != Thread.currentThread()) {
            t.interrupt();
            try {
                t.join(Duration.ofSeconds(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
