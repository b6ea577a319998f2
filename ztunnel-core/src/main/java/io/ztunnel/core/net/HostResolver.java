package io.ztunnel.core.net;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Resolves host names with the system resolver off the event loops (the JDK resolver blocks), one virtual thread per
 * lookup: DNS-only workloads and SOCKS5 domain-name targets. Thread-safe.
 */
public final class HostResolver {
    private static final ExecutorService LOOKUPS = Executors.newVirtualThreadPerTaskExecutor();

    private HostResolver() {}

    /**
     * Every address of {@code host}; fails with an {@link UnknownHostException} when it has none. The future completes
     * on a resolver thread: hop back to the event loop before touching channels.
     */
    public static CompletableFuture<List<InetAddress>> resolve(String host) {
        return CompletableFuture.supplyAsync(
                () -> {
                    try {
                        InetAddress[] all = InetAddress.getAllByName(host);
                        if (all.length == 0) {
                            throw new UnknownHostException(host + ": no addresses");
                        }
                        return List.of(all);
                    } catch (UnknownHostException e) {
                        throw new CompletionException(e);
                    }
                },
                LOOKUPS);
    }
}
