package io.ztunnel.core.inpod;

import io.ztunnel.cni.linux.NetnsId;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.zds.WorkloadInfo;
import io.ztunnel.cni.zds.ZdsWorkloadHandler;
import io.ztunnel.core.admin.Readiness;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.dns.DnsProxy;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.net.Sockets;
import io.ztunnel.core.proxy.LocalWorkload;
import io.ztunnel.core.proxy.ProxyContext;
import io.ztunnel.core.proxy.ProxySet;
import io.ztunnel.core.util.Backoff;
import io.ztunnel.core.util.Errors;
import io.ztunnel.core.util.Subscription;
import io.ztunnel.metrics.WorkloadManagerMetrics;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * In-pod mode: keeps one {@link ProxySet} per pod the node agent hands over through ZDS, inside the pod's network
 * namespace, following ztunnel's rules:
 *
 * <ul>
 *   <li>Add: start the pod's proxies (a second Add for the same uid and netns is a no-op; a different netns replaces
 *       the proxies). A pod whose proxies cannot start is NACKed and retried every 5 s; it keeps readiness down.
 *   <li>Keep (before the snapshot): the pod stays. SnapshotSent: pods not named since the connection started are
 *       removed. Del: the pod's proxies and connections are closed at once, and the Del is acknowledged once
 *       the connections are closed (at most {@link #CLOSE_WAIT} later): the node agent keeps the pod's NAT chains
 *       until then so the closes reach the apps.
 *   <li>Readiness ({@code workload proxy manager}) needs the snapshot and no pending pod, and drops when the
 *       connection to the agent is lost. Protocol violations end the process.
 * </ul>
 *
 * <p>Threading: ZDS callbacks arrive on the ZDS client thread; retries run on the control timer. The pod table is
 * guarded by this object's lock; proxies are started and stopped outside it.
 */
public final class InpodManager implements ZdsWorkloadHandler {
    private static final Logger log = LoggerFactory.getLogger(InpodManager.class);
    /** Pending pods are retried every 5 s, as ztunnel does. */
    static final Backoff RETRY = Backoff.constant(Duration.ofSeconds(5));

    static final String READINESS_TASK = "workload proxy manager";

    /** How long a Del's acknowledgement waits for the pod's connections to close. */
    static final Duration CLOSE_WAIT = Duration.ofSeconds(1);

    private final ProxyContext ctx;
    private final Readiness readiness;
    private final WorkloadManagerMetrics metrics;
    private final Consumer<String> fatal;
    private final Function<PodNetns, Sockets> podSockets;
    private final Subscription drainSubscription;
    private final DnsProxy dns;
    private final Map<String, Pod> pods = new LinkedHashMap<>();
    private final Map<SpiffeId, Integer> identities = new HashMap<>();
    private Readiness.@Nullable Task ready;
    private boolean snapshotReceived;
    private boolean draining;

    /** A pod's running (or pending) proxies. */
    private static final class Pod {
        final String uid;
        final WorkloadInfo info;
        final PodNetns netns;

        @Nullable
        ProxySet proxies;

        AutoCloseable dns = () -> {};
        boolean pending;
        int failures;

        @Nullable
        ScheduledFuture<?> retry;

        @Nullable
        SpiffeId identity;

        Pod(String uid, WorkloadInfo info, PodNetns netns) {
            this.uid = uid;
            this.info = info;
            this.netns = netns;
        }
    }

    /**
     * @param fatal called with the reason when the agent breaks the protocol (the daemon exits)
     * @param dns starts each pod's DNS server inside the pod's namespace, beside its proxies
     */
    public InpodManager(
            ProxyContext ctx,
            Readiness readiness,
            WorkloadManagerMetrics metrics,
            Consumer<String> fatal,
            DnsProxy dns) {
        this(
                ctx,
                readiness,
                metrics,
                fatal,
                dns,
                netns -> new PodSockets(
                        ctx.transport(),
                        netns,
                        ctx.config().packetMark(),
                        ctx.config().inpodPortReuse(),
                        ctx.keepalive()));
    }

    /** @param podSockets where a pod's sockets are made (inside its network namespace; tests may use the host's) */
    InpodManager(
            ProxyContext ctx,
            Readiness readiness,
            WorkloadManagerMetrics metrics,
            Consumer<String> fatal,
            DnsProxy dns,
            Function<PodNetns, Sockets> podSockets) {
        this.ctx = ctx;
        this.dns = dns;
        this.readiness = readiness;
        this.metrics = metrics;
        this.fatal = fatal;
        this.podSockets = podSockets;
        this.ready = readiness.register(READINESS_TASK);
        // Pods' proxies stop accepting by themselves when the drain starts; a draining daemon starts no new ones.
        this.drainSubscription = ctx.drain().onStart("in-pod manager", this::drainStarted);
    }

    @Override
    public CompletionStage<Void> addWorkload(String uid, WorkloadInfo info, PodNetns netns) {
        Pod previous;
        synchronized (this) {
            previous = pods.get(uid);
            if (previous != null && previous.netns.id().equals(netns.id())) {
                netns.close(); // same pod, same namespace: nothing to do
                return CompletableFuture.completedFuture(null);
            }
            pods.remove(uid);
        }
        if (previous != null) {
            log.atInfo().addKeyValue("uid", uid).log("pod network namespace changed; replacing its proxies");
            stop(previous, "pod network namespace replaced");
        }
        Pod pod = new Pod(uid, info, netns);
        synchronized (this) {
            pods.put(uid, pod);
        }
        try {
            start(pod);
            return CompletableFuture.completedFuture(null);
        } catch (RuntimeException e) {
            markPending(pod, e);
            return CompletableFuture.failedFuture(e);
        }
    }

    private void start(Pod pod) {
        Config cfg = ctx.config();
        ProxySet proxies = new ProxySet(
                ctx,
                new Config.LocalWorkloadInfo(pod.info.namespace(), pod.info.name(), pod.info.serviceAccount()),
                podSockets.apply(pod.netns),
                wildcard(cfg),
                true);
        AutoCloseable dnsServer;
        try {
            proxies.start().join();
            dnsServer = dns.startInPod(proxies.local(), pod.netns);
        } catch (RuntimeException e) {
            proxies.close();
            throw e;
        }
        LocalWorkload local = proxies.local();
        SpiffeId identity = new SpiffeId(cfg.trustDomain(), pod.info.namespace(), pod.info.serviceAccount());
        synchronized (this) {
            pod.proxies = proxies;
            pod.dns = dnsServer;
            pod.pending = false;
            pod.failures = 0;
            pod.identity = identity;
            identities.merge(identity, 1, Integer::sum);
            publish();
        }
        // Warm the certificate up now rather than on the first connection (the workload's own trust domain is
        // used once the control plane describes it).
        local.get().thenAccept(w -> ctx.certificates().prefetch(w.identity()));
        metrics.proxyStarted();
        log.atInfo()
                .addKeyValue("uid", pod.uid)
                .addKeyValue("workload", local.info())
                .addKeyValue("netns", pod.netns.description())
                .log("pod proxies started");
    }

    private void markPending(Pod pod, RuntimeException e) {
        Duration delay;
        synchronized (this) {
            pod.pending = true;
            pod.failures++;
            delay = RETRY.delay(pod.failures);
            if (!draining) {
                pod.retry = ctx.timer().schedule(() -> retry(pod), delay.toMillis(), TimeUnit.MILLISECONDS);
            }
            publish();
        }
        log.atWarn()
                .addKeyValue("uid", pod.uid)
                .addKeyValue("error", Errors.message(e))
                .addKeyValue("retry_in", delay)
                .log("pod proxies failed to start");
    }

    private void retry(Pod pod) {
        synchronized (this) {
            if (pods.get(pod.uid) != pod || !pod.pending || draining) {
                return;
            }
        }
        try {
            start(pod);
        } catch (RuntimeException e) {
            markPending(pod, e);
        }
    }

    @Override
    public void keepWorkload(String uid) {
        log.atDebug().addKeyValue("uid", uid).log("pod kept");
    }

    @Override
    public CompletionStage<Void> deleteWorkload(String uid) {
        Pod pod;
        synchronized (this) {
            pod = pods.remove(uid);
        }
        if (pod == null) {
            return CompletableFuture.completedFuture(null);
        }
        // Acknowledged once the pod's connections are closed: the node agent keeps the pod's NAT chains until then,
        // so that each close still reaches the app (see the node agent's removal order).
        return stop(pod, "pod removed from the mesh")
                .completeOnTimeout(null, CLOSE_WAIT.toMillis(), TimeUnit.MILLISECONDS)
                .thenApply(v -> null);
    }

    @Override
    public CompletionStage<Void> snapshotSent(Set<String> namedSinceConnect) {
        List<Pod> stale;
        synchronized (this) {
            stale = pods.values().stream()
                    .filter(p -> !namedSinceConnect.contains(p.uid))
                    .toList();
            stale.forEach(p -> pods.remove(p.uid));
            snapshotReceived = true;
        }
        for (Pod p : stale) {
            stop(p, "pod not in the node agent's snapshot");
        }
        synchronized (this) {
            publish();
        }
        log.atInfo()
                .addKeyValue("pods", namedSinceConnect.size())
                .addKeyValue("removed", stale.size())
                .log("ZDS snapshot received");
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public void disconnected(Throwable cause) {
        synchronized (this) {
            snapshotReceived = false;
            if (ready == null) {
                ready = readiness.register(READINESS_TASK);
            }
        }
        log.atWarn()
                .addKeyValue("error", cause == null ? "connection closed" : Errors.message(cause))
                .log("lost the node agent connection; reconnecting");
    }

    @Override
    public void protocolViolation(String message) {
        log.atError().addKeyValue("error", message).log("node agent broke the ZDS protocol; exiting");
        fatal.accept(message);
    }

    /** Stops the pod's proxies and closes its connections; completes once they are closed. */
    private CompletableFuture<@Nullable Void> stop(Pod pod, String reason) {
        ProxySet proxies;
        SpiffeId identity;
        synchronized (this) {
            if (pod.retry != null) {
                pod.retry.cancel(false);
            }
            proxies = pod.proxies;
            identity = pod.identity;
            pod.proxies = null;
            if (identity != null && identities.merge(identity, -1, Integer::sum) <= 0) {
                identities.remove(identity);
            } else {
                identity = null; // still used by another pod on this node
            }
            publish();
        }
        close(pod.dns);
        CompletableFuture<@Nullable Void> closed = CompletableFuture.completedFuture(null);
        if (proxies != null) {
            proxies.close();
            closed = ctx.connections().abortOwnedBy(proxies.local().info().toString(), reason);
            metrics.proxyStopped();
        }
        if (identity != null) {
            ctx.certificates().forget(identity);
        }
        pod.netns.close();
        log.atInfo().addKeyValue("uid", pod.uid).addKeyValue("reason", reason).log("pod proxies stopped");
        return closed;
    }

    /** Updates metrics and readiness from the pod table. Caller holds the lock. */
    private void publish() {
        long active = pods.values().stream().filter(p -> p.proxies != null).count();
        long pending = pods.values().stream().filter(p -> p.pending).count();
        metrics.setActive(active);
        metrics.setPending(pending);
        if (snapshotReceived && pending == 0) {
            if (ready != null) {
                ready.done();
                ready = null;
            }
        } else if (ready == null) {
            ready = readiness.register(READINESS_TASK);
        }
    }

    /** Pod uid → {@code Up} or {@code Pending}, with the workload, for {@code /config_dump}'s workloadState. */
    public synchronized Map<String, Map<String, Object>> state() {
        Map<String, Map<String, Object>> out = new LinkedHashMap<>();
        for (Pod p : pods.values()) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("state", p.proxies != null ? "Up" : "Pending");
            entry.put(
                    "info",
                    Map.of(
                            "name",
                            p.info.name(),
                            "namespace",
                            p.info.namespace(),
                            "serviceAccount",
                            p.info.serviceAccount()));
            out.put(p.uid, entry);
        }
        return out;
    }

    /**
     * The drain started: pending pods are no longer retried and the pods' DNS servers close (the pods stay enrolled
     * for the next daemon; their proxies stop accepting through their own drain action).
     */
    private void drainStarted() {
        List<AutoCloseable> dnsServers = new ArrayList<>();
        synchronized (this) {
            draining = true;
            for (Pod p : pods.values()) {
                if (p.retry != null) {
                    p.retry.cancel(false);
                    p.retry = null;
                }
                dnsServers.add(p.dns);
            }
        }
        dnsServers.forEach(InpodManager::close);
    }

    /** Stops every pod's proxies and closes their connections (the daemon stops). */
    public void closeAll() {
        drainSubscription.close();
        List<Pod> all;
        synchronized (this) {
            all = List.copyOf(pods.values());
            pods.clear();
        }
        for (Pod p : all) {
            stop(p, "daemon stopped");
        }
    }

    private static void close(AutoCloseable dnsServer) {
        try {
            dnsServer.close();
        } catch (Exception e) {
            log.atDebug().addKeyValue("error", Errors.message(e)).log("closing a pod's DNS server failed");
        }
    }

    private static InetAddress wildcard(Config cfg) {
        try {
            return InetAddress.getByName(cfg.ipv6Enabled() ? "::" : "0.0.0.0");
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    /** For tests: the netns id of a pod's proxies, or null. */
    synchronized @Nullable NetnsId netnsOf(String uid) {
        Pod p = pods.get(uid);
        return p == null ? null : p.netns.id();
    }
}
