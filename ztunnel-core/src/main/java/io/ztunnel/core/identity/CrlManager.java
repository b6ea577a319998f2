package io.ztunnel.core.identity;

import io.ztunnel.core.util.Errors;
import io.ztunnel.core.util.Subscription;
import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.security.cert.CertificateRevokedException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Certificate revocation from {@code CRL_PATH}, one per daemon, shared by every proxy, as upstream does it:
 *
 * <ul>
 *   <li>At start a file that cannot be parsed is an error ({@link #start} throws, naming the file, and the daemon runs
 *       without revocation checks); a missing file is a warning and is loaded on first use, or when it appears.
 *   <li>The file's directory is watched (not recursively, so a ConfigMap's symlink swap is seen); after any change, and
 *       2 s without another one, the file is reloaded. A reload that fails keeps the previous lists.
 *   <li>Handshakes check the peer's chain against the current lists ({@link #check}); after each successful reload,
 *       every tracked connection's chain is checked again and revoked ones are handed to their owner to close.
 * </ul>
 *
 * <p>Thread-safe: checks run on event loops and read one volatile reference; loads are serialized; the watcher is one
 * daemon thread, which also runs the revocation callbacks.
 */
public final class CrlManager implements Revocation, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(CrlManager.class);

    /** How long the directory must be quiet after a change before the file is reloaded. */
    static final Duration DEBOUNCE = Duration.ofSeconds(2);

    private static final long LAZY_RETRY_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** Where the counts go ({@code istio_crl_*} metrics). Called from event loops and the watcher thread. */
    public interface Events {
        Events NONE = new Events() {};

        /** A handshake refused, or an established connection closed, because a CRL revokes its peer. */
        default void rejected(boolean inbound) {}

        /** A mutual-TLS connection that cannot be tracked for revocation. */
        default void untracked(boolean inbound) {}
    }

    private final Path path;
    private final Events events;
    private final Set<Tracked> tracked = ConcurrentHashMap.newKeySet();
    private volatile CrlSet current = CrlSet.EMPTY;
    private volatile boolean loaded;
    private volatile long lastLazyAttempt = System.nanoTime() - LAZY_RETRY_NANOS;
    private volatile @Nullable WatchService watcher;

    private CrlManager(Path path, Events events) {
        this.path = path;
        this.events = events;
    }

    /**
     * Loads {@code path} and starts watching its directory.
     *
     * @throws IllegalArgumentException naming the file when it exists but cannot be read or parsed
     */
    public static CrlManager start(Path path, Events events) {
        CrlManager manager = new CrlManager(path, events);
        try {
            manager.install(read(path));
        } catch (NoSuchFileException e) {
            log.atWarn()
                    .addKeyValue("path", path)
                    .log("CRL file does not exist yet; it is loaded when it appears or on first use");
        } catch (IOException e) {
            throw new IllegalArgumentException("CRL_PATH=" + path + ": cannot read: " + Errors.message(e), e);
        }
        manager.watch();
        return manager;
    }

    private static CrlSet read(Path path) throws IOException {
        return CrlSet.parse(Files.readAllBytes(path), "CRL_PATH=" + path);
    }

    private void install(CrlSet set) {
        current = set;
        loaded = true;
        log.atInfo()
                .addKeyValue("path", path)
                .addKeyValue("crls", set.size())
                .addKeyValue("revoked", set.revokedCount())
                .log("CRL loaded");
    }

    /** The lists in effect (for tests and the admin API). */
    public CrlSet current() {
        return current;
    }

    @Override
    public void check(List<X509Certificate> path, List<X509Certificate> roots, boolean inbound)
            throws CertificateRevokedException {
        if (!loaded) {
            lazyLoad();
        }
        try {
            current.check(path, roots);
        } catch (CertificateRevokedException e) {
            events.rejected(inbound);
            throw e;
        }
    }

    /** A missing file at start is tried again on use, at most once a second. */
    private void lazyLoad() {
        long now = System.nanoTime();
        if (now - lastLazyAttempt < LAZY_RETRY_NANOS) {
            return;
        }
        lastLazyAttempt = now;
        reload();
    }

    @Override
    public Subscription track(
            List<X509Certificate> chain, List<X509Certificate> roots, boolean inbound, Runnable onRevoked) {
        if (chain.isEmpty()) {
            events.untracked(inbound);
            return Subscription.NONE;
        }
        Tracked t = new Tracked(withoutAnchors(chain, roots), List.copyOf(roots), inbound, onRevoked);
        tracked.add(t);
        return () -> tracked.remove(t);
    }

    /** Number of connections watched for revocation. */
    public int trackedCount() {
        return tracked.size();
    }

    /**
     * Reads the file again; on success the new lists take effect for new handshakes at once and every tracked
     * connection they revoke is handed to its owner. On failure the previous lists stay.
     *
     * @return whether the file was loaded
     */
    public synchronized boolean reload() {
        CrlSet set;
        try {
            set = read(path);
        } catch (NoSuchFileException e) {
            // Still missing (retried on use while nothing was ever loaded, or deleted): the previous lists stay.
            (loaded ? log.atWarn() : log.atDebug())
                    .addKeyValue("path", path)
                    .log("CRL file does not exist; keeping the previous revocation lists");
            return false;
        } catch (IOException | IllegalArgumentException e) {
            log.atWarn()
                    .addKeyValue("path", path)
                    .addKeyValue("error", Errors.message(e))
                    .log("cannot reload CRL; keeping the previous revocation lists");
            return false;
        }
        install(set);
        List<Tracked> revoked = new ArrayList<>();
        for (Tracked t : tracked) {
            try {
                set.check(t.path, t.roots);
            } catch (CertificateRevokedException e) {
                revoked.add(t);
            } catch (RuntimeException e) {
                tracked.remove(t);
                events.untracked(t.inbound);
            }
        }
        for (Tracked t : revoked) {
            if (tracked.remove(t)) {
                events.rejected(t.inbound);
                try {
                    t.onRevoked.run();
                } catch (RuntimeException e) {
                    log.atWarn().setCause(e).log("closing a revoked connection failed");
                }
            }
        }
        if (!revoked.isEmpty()) {
            log.atInfo()
                    .addKeyValue("path", path)
                    .addKeyValue("connections", revoked.size())
                    .log("closing connections whose peer certificate the new CRL revokes");
        }
        return true;
    }

    private void watch() {
        Path dir = path.toAbsolutePath().getParent();
        if (dir == null) {
            log.atWarn()
                    .addKeyValue("path", path)
                    .log("the CRL path has no parent directory to watch; the CRL will not be reloaded");
            return;
        }
        WatchService service;
        try {
            service = dir.getFileSystem().newWatchService();
            dir.register(
                    service,
                    StandardWatchEventKinds.ENTRY_CREATE,
                    StandardWatchEventKinds.ENTRY_MODIFY,
                    StandardWatchEventKinds.ENTRY_DELETE);
            watcher = service;
        } catch (IOException | RuntimeException e) {
            log.atWarn()
                    .addKeyValue("path", path)
                    .addKeyValue("error", Errors.message(e))
                    .log("cannot watch the CRL file's directory; the CRL will not be reloaded");
            return;
        }
        Thread.ofPlatform().daemon().name("crl-watcher").start(() -> watchLoop(service));
    }

    private void watchLoop(WatchService service) {
        try {
            while (true) {
                drain(service.take());
                // Debounce: a ConfigMap update is several events; reload once things are quiet.
                WatchKey more;
                while ((more = service.poll(DEBOUNCE.toMillis(), TimeUnit.MILLISECONDS)) != null) {
                    drain(more);
                }
                reload();
            }
        } catch (InterruptedException | ClosedWatchServiceException e) {
            // closed
        }
    }

    private static void drain(WatchKey key) {
        key.pollEvents();
        key.reset();
    }

    /** Stops watching the file. */
    @Override
    public void close() {
        WatchService service = watcher;
        if (service != null) {
            try {
                service.close();
            } catch (IOException e) {
                log.atDebug().addKeyValue("error", Errors.message(e)).log("closing the CRL watcher failed");
            }
        }
        tracked.clear();
    }

    /** {@code chain} without the certificates that are trust anchors (a peer may send its root too). */
    static List<X509Certificate> withoutAnchors(List<X509Certificate> chain, List<X509Certificate> roots) {
        List<X509Certificate> path = new ArrayList<>(chain.size());
        for (X509Certificate c : chain) {
            if (!roots.contains(c)) {
                path.add(c);
            }
        }
        return List.copyOf(path);
    }

    @Override
    public String toString() {
        return "CrlManager{" + path + ", " + current + "}";
    }

    /** One watched connection; identity equality (two connections may present the same chain). */
    private static final class Tracked {
        final List<X509Certificate> path;
        final List<X509Certificate> roots;
        final boolean inbound;
        final Runnable onRevoked;

        Tracked(List<X509Certificate> path, List<X509Certificate> roots, boolean inbound, Runnable onRevoked) {
            this.path = path;
            this.roots = roots;
            this.inbound = inbound;
            this.onRevoked = onRevoked;
        }
    }
}
