package io.ztunnel.xds.local;

import io.ztunnel.xds.ErrorText;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches a local config file ({@code LOCAL_XDS_PATH}) and hands every new version, parsed, to a
 * {@link Listener}.
 *
 * <p>What is watched is the file's <em>parent directory</em>, not the file: a Kubernetes
 * ConfigMap mount replaces its content by swapping a {@code ..data} symlink, and editors often
 * save by writing a temporary file and renaming it over the original; neither modifies the
 * watched file in place. Any event in the directory starts a debounce window (default 150 ms) that
 * restarts on every further event; when it closes the file is read again (following symlinks).
 * As a safety net for file systems whose change notification is unreliable, the file is also
 * re-read every {@code recheckInterval} (default 5 s). Content identical to the last version
 * processed is not reported again.
 *
 * <p>Reporting: first the current content, right after {@link #start}; then one call per
 * changed version: {@link Listener#onConfig} with the new complete config, or {@link
 * Listener#onError} with the parse error (unreadable file, bad YAML, schema error). On error the
 * caller is expected to keep its previous state; a later good version is reported normally.
 *
 * <p>Threading: the watcher owns one platform daemon thread ({@code local-config-watcher}); the
 * listener is called only on that thread, one call at a time, never concurrently. Exceptions
 * thrown by the listener are logged and do not stop the watcher. {@link #close} stops the thread
 * and waits (bounded) for it to end; after {@code close} returns, the listener is not called
 * again unless close was invoked from the listener itself.
 *
 * <p>Ownership: the watcher owns its {@link WatchService} and thread; the caller owns the
 * watcher and must close it.
 */
public final class LocalConfigWatcher implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(LocalConfigWatcher.class);

    /** Default quiet period after the last file system event before the file is re-read. */
    public static final Duration DEFAULT_DEBOUNCE = Duration.ofMillis(150);

    /** Default interval at which the file is re-read even without file system events. */
    public static final Duration DEFAULT_RECHECK_INTERVAL = Duration.ofSeconds(5);

    /** Receives config versions; called only on the watcher thread. */
    public interface Listener {
        /** A new, valid, complete config. Replaces all previous local state. */
        void onConfig(LocalConfig config);

        /** The current file content is not a valid config; keep the previous state. */
        void onError(LocalConfigException error);
    }

    private final Path file;
    private final Path directory;
    private final Duration debounce;
    private final Duration recheckInterval;
    private final Listener listener;
    private final WatchService watchService;
    private final Thread thread;
    private volatile boolean closed;

    // Confined to the watcher thread.
    private byte @Nullable [] lastContent;
    private @Nullable String lastReadProblem;
    private @Nullable WatchKey key;

    private LocalConfigWatcher(Path file, Duration debounce, Duration recheckInterval, Listener listener)
            throws IOException {
        this.file = file.toAbsolutePath().normalize();
        Path parent = this.file.getParent();
        if (parent == null) {
            throw new IllegalArgumentException("file: " + file + " (expected: a file inside a directory)");
        }
        this.directory = parent;
        this.debounce = debounce;
        this.recheckInterval = recheckInterval;
        this.listener = listener;
        this.watchService = FileSystems.getDefault().newWatchService();
        try {
            this.key = register();
        } catch (IOException e) {
            watchService.close();
            throw new IOException("cannot watch directory " + directory + ": " + ErrorText.of(e), e);
        }
        this.thread = Thread.ofPlatform().daemon().name("local-config-watcher").unstarted(this::run);
    }

    /**
     * Starts watching {@code file} with the default debounce and recheck interval.
     *
     * @throws IOException if the file's directory cannot be watched (e.g. it does not exist)
     */
    public static LocalConfigWatcher start(Path file, Listener listener) throws IOException {
        return start(file, DEFAULT_DEBOUNCE, DEFAULT_RECHECK_INTERVAL, listener);
    }

    /**
     * Starts watching {@code file}. The current content is reported first, on the watcher thread.
     *
     * @param debounce quiet period after the last event before re-reading (e.g. 100 to 200 ms)
     * @param recheckInterval how often to re-read the file without any event
     * @throws IOException if the file's directory cannot be watched (e.g. it does not exist)
     */
    public static LocalConfigWatcher start(Path file, Duration debounce, Duration recheckInterval, Listener listener)
            throws IOException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(listener, "listener");
        if (debounce.isNegative() || recheckInterval.compareTo(debounce) <= 0) {
            throw new IllegalArgumentException("debounce: " + debounce + ", recheckInterval: " + recheckInterval
                    + " (expected: 0 <= debounce < recheckInterval)");
        }
        LocalConfigWatcher watcher = new LocalConfigWatcher(file, debounce, recheckInterval, listener);
        watcher.thread.start();
        return watcher;
    }

    /** The watched file (absolute). */
    public Path file() {
        return file;
    }

    private WatchKey register() throws IOException {
        return directory.register(
                watchService,
                StandardWatchEventKinds.ENTRY_CREATE,
                StandardWatchEventKinds.ENTRY_MODIFY,
                StandardWatchEventKinds.ENTRY_DELETE);
    }

    private void run() {
        log.atInfo()
                .addKeyValue("file", file)
                .addKeyValue("debounceMs", debounce.toMillis())
                .log("watching local config");
        try {
            reload();
            while (!closed) {
                WatchKey signalled = watchService.poll(recheckInterval.toMillis(), TimeUnit.MILLISECONDS);
                if (signalled == null) {
                    ensureRegistered();
                    reload();
                    continue;
                }
                drain(signalled);
                // Debounce: wait until the directory has been quiet for the whole window.
                while (!closed) {
                    WatchKey more = watchService.poll(debounce.toMillis(), TimeUnit.MILLISECONDS);
                    if (more == null) {
                        break;
                    }
                    drain(more);
                }
                if (!closed) {
                    ensureRegistered();
                    reload();
                }
            }
        } catch (ClosedWatchServiceException | InterruptedException e) {
            // close() was called.
        } catch (RuntimeException | Error e) {
            log.atError().addKeyValue("file", file).setCause(e).log("local config watcher failed");
        } finally {
            log.atInfo().addKeyValue("file", file).log("stopped watching local config");
        }
    }

    private void drain(WatchKey signalled) {
        signalled.pollEvents();
        if (!signalled.reset() && signalled == key) {
            key = null; // the directory went away; ensureRegistered() retries
        }
    }

    private void ensureRegistered() {
        WatchKey current = key;
        if (current != null && current.isValid()) {
            return;
        }
        try {
            key = register();
            log.atInfo().addKeyValue("directory", directory).log("watching config directory again");
        } catch (IOException e) {
            key = null;
        }
    }

    private void reload() {
        byte[] content;
        try {
            content = Files.readAllBytes(file);
        } catch (IOException e) {
            String problem = e instanceof NoSuchFileException
                    ? "file does not exist"
                    : e.getClass().getSimpleName();
            if (!problem.equals(lastReadProblem)) {
                lastReadProblem = problem;
                lastContent = null;
                deliverError(new LocalConfigException(file.toString(), "cannot read file: " + ErrorText.of(e), e));
            }
            return;
        }
        lastReadProblem = null;
        if (lastContent != null && Arrays.equals(lastContent, content)) {
            return;
        }
        lastContent = content;
        LocalConfig config;
        try {
            config = LocalConfigParser.parseBytes(content, file.toString());
        } catch (LocalConfigException e) {
            deliverError(e);
            return;
        }
        log.atInfo()
                .addKeyValue("file", file)
                .addKeyValue("workloads", config.workloads().size())
                .addKeyValue("services", config.services().size())
                .addKeyValue("policies", config.policies().size())
                .log("local config loaded");
        if (closed) {
            return;
        }
        try {
            listener.onConfig(config);
        } catch (RuntimeException e) {
            log.atError().addKeyValue("file", file).setCause(e).log("local config listener failed");
        }
    }

    private void deliverError(LocalConfigException error) {
        log.atWarn()
                .addKeyValue("file", file)
                .addKeyValue("line", error.line())
                .addKeyValue("path", error.path())
                .addKeyValue("error", ErrorText.of(error))
                .log("invalid local config, keeping the previous one");
        if (closed) {
            return;
        }
        try {
            listener.onError(error);
        } catch (RuntimeException e) {
            log.atError().addKeyValue("file", file).setCause(e).log("local config listener failed");
        }
    }

    /** Stops watching. Idempotent; waits up to 5 s for the watcher thread to finish. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            watchService.close();
        } catch (IOException e) {
            log.atDebug().setCause(e).log("closing the watch service failed");
        }
        if (Thread.currentThread() != thread) {
            thread.interrupt();
            try {
                thread.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
