package io.ztunnel.core.identity;

import io.ztunnel.core.util.Errors;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * The embedded {@link LocalCa}, loaded (or generated) on a thread of its own so that a daemon's start does not wait
 * for it: reading the PEM files initialises the JDK's certificate and key factories, and the key-matches-certificate
 * check signs and verifies once, in code the JIT has not compiled yet (together 0.2-0.4 s of a cold start). Requests
 * to sign wait for the load; {@link #await} is where the starting daemon learns that the CA files are unusable, with
 * the same error {@link LocalCa#loadOrCreate} throws.
 *
 * <p>Threading: {@link #start} starts one short-lived platform thread; every method may be called from any thread and
 * only {@link #await} blocks.
 */
public final class LoadingCa implements CertificateAuthority {
    private final Path directory;
    private final CompletableFuture<LocalCa> loaded;

    private LoadingCa(Path directory, CompletableFuture<LocalCa> loaded) {
        this.directory = directory;
        this.loaded = loaded;
    }

    /** Starts loading the CA in {@code directory} (generating one when the directory has none). */
    public static LoadingCa start(Path directory, Clock clock) {
        CompletableFuture<LocalCa> loaded = CompletableFuture.supplyAsync(
                () -> LocalCa.loadOrCreate(directory, clock),
                task -> Thread.ofPlatform().name("ztunnel-ca-load").daemon().start(task));
        return new LoadingCa(directory, loaded);
    }

    /**
     * Waits for the load and returns the CA.
     *
     * @throws IllegalArgumentException naming the file and the problem when the CA files are unusable (as {@link
     *     LocalCa#loadOrCreate})
     */
    public LocalCa await() {
        return Errors.join(loaded);
    }

    @Override
    public CompletionStage<IssuedChain> sign(SpiffeId identity, String csrPem, Duration ttl) {
        return loaded.thenCompose(ca -> ca.sign(identity, csrPem, ttl));
    }

    @Override
    public String describe() {
        return LocalCa.describe(directory);
    }
}
