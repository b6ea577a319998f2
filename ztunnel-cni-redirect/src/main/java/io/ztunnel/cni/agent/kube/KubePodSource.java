package io.ztunnel.cni.agent.kube;

import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.ztunnel.cni.ErrorText;
import io.ztunnel.cni.agent.ClusterView;
import io.ztunnel.cni.agent.PodHooks;
import io.ztunnel.cni.agent.PodSource;
import io.ztunnel.cni.agent.RetryBackoff;
import io.ztunnel.cni.agent.enrollment.EnrollmentPolicy;
import io.ztunnel.cni.agent.enrollment.Namespace;
import io.ztunnel.cni.agent.enrollment.Pod;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Pods and namespaces from the Kubernetes API as a {@link PodSource}: two fabric8 informers, one on
 * the pods of this node (field selector {@code spec.nodeName=<node>}, all namespaces) and one on all
 * namespaces. Every change of either (and a periodic re-scan while an enrolled pod's network
 * namespace is still unknown) rebuilds the {@link ClusterView} from the informers' caches; a view
 * that differs from the last one is delivered.
 *
 * <p>Building a view: pods in a terminal phase ({@code Succeeded}, {@code Failed}) and pods without
 * an IP yet are left out (a pod that leaves the view is un-enrolled; the agent leaves the rules of a
 * namespace that is gone alone). For each pod that {@link EnrollmentPolicy} enrolls, its network
 * namespace is found with {@link ProcNetnsFinder} (one {@code /proc} scan for all pods that need
 * one) and cached by pod uid while the path still names the same namespace. A pod whose namespace
 * is not found yet is published without one (the agent shows it as an error) and looked for again,
 * with the agent's backoff (5 ms doubling to 5 s).
 *
 * <p>API errors: the informers retry listing and watching by themselves (fabric8's backoff); {@link
 * #start} waits up to {@code syncTimeout} for both to have listed once, and fails after that so the
 * process exits and the kubelet restarts it.
 *
 * <p>Threading: fabric8's informer threads only enqueue a signal. One platform daemon thread,
 * "kube-pod-source", builds views, scans {@code /proc} and calls the listener. {@link #start} builds
 * and delivers the first view on the caller's thread before starting it. <b>Ownership.</b> Owns
 * the informers (stopped by {@link #close()}), not the client.
 */
public final class KubePodSource implements PodSource {
    private static final Logger log = LoggerFactory.getLogger(KubePodSource.class);
    private static final Duration DEBOUNCE = Duration.ofMillis(20);

    private final KubernetesClient client;
    private final String nodeName;
    private final NetnsFinder finder;
    private final EnrollmentPolicy policy;
    private final Duration syncTimeout;

    private final LinkedBlockingQueue<Boolean> signals = new LinkedBlockingQueue<>();
    private final Object lock = new Object();
    private @Nullable SharedIndexInformer<io.fabric8.kubernetes.api.model.Pod> pods; // guarded by lock
    private @Nullable SharedIndexInformer<io.fabric8.kubernetes.api.model.Namespace> namespaces;
    private @Nullable Thread thread; // guarded by lock
    private volatile boolean closed;
    private volatile @Nullable String lastApiError; // from the informers' threads, for the start error

    // Confined to whichever thread builds views (the caller of start, then the source thread).
    private final Map<String, NetnsFinder.Found> netnsCache = new HashMap<>();
    private final RetryBackoff rescan = new RetryBackoff();
    private boolean missingNetns;
    private final Set<String> warnedMissing = new HashSet<>();
    private long rescanDueNanos = Long.MAX_VALUE;
    private @Nullable ClusterView last;

    /**
     * Pods are listed and watched with the field selector {@code spec.nodeName=<nodeName>}, so the API server sends
     * this node's pods only; pods of other nodes are dropped here as well.
     */
    public KubePodSource(
            KubernetesClient client,
            String nodeName,
            NetnsFinder finder,
            EnrollmentPolicy policy,
            Duration syncTimeout) {
        this.client = Objects.requireNonNull(client, "client");
        this.nodeName = Objects.requireNonNull(nodeName, "nodeName");
        this.finder = Objects.requireNonNull(finder, "finder");
        this.policy = Objects.requireNonNull(policy, "policy");
        this.syncTimeout = Objects.requireNonNull(syncTimeout, "syncTimeout");
    }

    @Override
    public void start(Consumer<ClusterView> listener) throws IOException {
        Objects.requireNonNull(listener, "listener");
        ResourceEventHandler<Object> signal = new ResourceEventHandler<>() {
            @Override
            public void onAdd(Object obj) {
                signals.add(Boolean.TRUE);
            }

            @Override
            public void onUpdate(Object oldObj, Object newObj) {
                signals.add(Boolean.TRUE);
            }

            @Override
            public void onDelete(Object obj, boolean deletedFinalStateUnknown) {
                signals.add(Boolean.TRUE);
            }
        };
        SharedIndexInformer<io.fabric8.kubernetes.api.model.Pod> podInformer = client.pods()
                .inAnyNamespace()
                .withField("spec.nodeName", nodeName)
                .runnableInformer(0);
        SharedIndexInformer<io.fabric8.kubernetes.api.model.Namespace> nsInformer =
                client.namespaces().runnableInformer(0);
        for (SharedIndexInformer<?> i : List.of(podInformer, nsInformer)) {
            i.addEventHandler(signal);
            // Keep retrying (with fabric8's backoff) even before the first successful list.
            i.exceptionHandler((started, t) -> {
                lastApiError = ErrorText.of(t);
                log.atWarn()
                        .setMessage("Kubernetes API list/watch failed; retrying")
                        .addKeyValue("node", nodeName)
                        .addKeyValue("started", started)
                        .addKeyValue("error", ErrorText.of(t))
                        .log();
                return true;
            });
        }
        synchronized (lock) {
            if (closed) {
                throw new IOException("pod source closed");
            }
            pods = podInformer;
            namespaces = nsInformer;
        }
        try {
            CompletableFuture.allOf(
                            podInformer.start().toCompletableFuture(),
                            nsInformer.start().toCompletableFuture())
                    .get(syncTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            close();
            String last = lastApiError;
            throw new IOException("Kubernetes API at "
                    + client.getMasterUrl()
                    + ": pods of node "
                    + nodeName
                    + " and namespaces not listed within "
                    + syncTimeout.toSeconds()
                    + " s (KUBE_SYNC_TIMEOUT_SECONDS); "
                    + (last == null ? "no answer yet (requests are still being retried)" : "last error: " + last));
        } catch (ExecutionException e) {
            close();
            Throwable cause = e.getCause();
            throw new IOException("Kubernetes API: " + ErrorText.of(e), cause != null ? cause : e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close();
            throw new IOException("interrupted while waiting for the Kubernetes API", e);
        }
        signals.clear();
        ClusterView first = build();
        log.atInfo()
                .setMessage("Kubernetes pods listed")
                .addKeyValue("node", nodeName)
                .addKeyValue("namespaces", first.namespaces().size())
                .addKeyValue("pods", first.pods().size())
                .log();
        last = first;
        listener.accept(first);
        synchronized (lock) {
            if (closed) {
                return;
            }
            thread = Thread.ofPlatform().name("kube-pod-source").daemon(true).start(() -> loop(listener));
        }
    }

    private void loop(Consumer<ClusterView> listener) {
        try {
            while (!closed) {
                long wait = rescanDueNanos == Long.MAX_VALUE ? Long.MAX_VALUE : rescanDueNanos - System.nanoTime();
                Boolean s =
                        wait == Long.MAX_VALUE ? signals.take() : signals.poll(Math.max(0, wait), TimeUnit.NANOSECONDS);
                if (s != null) {
                    // A burst of events (a namespace label touches every pod) makes one view.
                    while (signals.poll(DEBOUNCE.toNanos(), TimeUnit.NANOSECONDS) != null) {
                        signals.clear();
                    }
                }
                if (closed) {
                    break;
                }
                ClusterView view = build();
                if (!view.equals(last)) {
                    last = view;
                    try {
                        listener.accept(view);
                    } catch (RuntimeException e) {
                        log.atError()
                                .setMessage("pod view listener failed")
                                .setCause(e)
                                .log();
                    }
                }
            }
        } catch (InterruptedException e) {
            // close()
        } catch (RuntimeException e) {
            log.atError().setMessage("Kubernetes pod source died").setCause(e).log();
        }
    }

    /** The view from the informer caches, with network namespaces for the enrolled pods. */
    private ClusterView build() {
        SharedIndexInformer<io.fabric8.kubernetes.api.model.Pod> podInformer;
        SharedIndexInformer<io.fabric8.kubernetes.api.model.Namespace> nsInformer;
        synchronized (lock) {
            podInformer = Objects.requireNonNull(pods);
            nsInformer = Objects.requireNonNull(namespaces);
        }
        List<Namespace> nss = new ArrayList<>();
        for (io.fabric8.kubernetes.api.model.Namespace ns :
                nsInformer.getStore().list()) {
            nss.add(new Namespace(
                    ns.getMetadata().getName(), orEmpty(ns.getMetadata().getLabels())));
        }
        nss.sort(Comparator.comparing(Namespace::name));
        Map<String, Namespace> nsByName = new HashMap<>();
        nss.forEach(n -> nsByName.put(n.name(), n));

        List<io.fabric8.kubernetes.api.model.Pod> raw =
                new ArrayList<>(podInformer.getStore().list());
        raw.sort(Comparator.comparing((io.fabric8.kubernetes.api.model.Pod p) ->
                        Objects.requireNonNullElse(p.getMetadata().getCreationTimestamp(), ""))
                .thenComparing(p ->
                        p.getMetadata().getNamespace() + "/" + p.getMetadata().getName()));
        List<Pod> candidates = new ArrayList<>();
        Map<String, List<InetAddress>> wanted = new LinkedHashMap<>();
        Map<String, Boolean> enrolled = new HashMap<>();
        for (io.fabric8.kubernetes.api.model.Pod p : raw) {
            if (p.getSpec() == null || !nodeName.equals(p.getSpec().getNodeName())) {
                continue; // not ours (only possible without the field selector)
            }
            Optional<Pod> pod = convert(p);
            if (pod.isEmpty()) {
                continue;
            }
            Pod pd = pod.get();
            candidates.add(pd);
            // Annotated pods need their namespace too: the agent removes their rules if they left.
            boolean in = policy.decide(pd, Optional.ofNullable(nsByName.get(pd.namespace())))
                            .enrolled()
                    || pd.annotations().containsKey(PodHooks.REDIRECTION_ANNOTATION);
            enrolled.put(pd.uid(), in);
            NetnsFinder.Found cached = netnsCache.get(pd.uid());
            if (in && (cached == null || !ProcNetnsFinder.idOf(cached.path()).equals(Optional.of(cached.id())))) {
                netnsCache.remove(pd.uid());
                wanted.put(pd.uid(), pd.ips());
            }
        }
        if (!wanted.isEmpty()) {
            try {
                netnsCache.putAll(finder.find(wanted));
            } catch (IOException e) {
                log.atError()
                        .setMessage("cannot scan for pod network namespaces")
                        .addKeyValue("finder", finder)
                        .addKeyValue("error", ErrorText.of(e))
                        .log();
            }
        }
        List<Pod> out = new ArrayList<>();
        boolean missing = false;
        for (Pod pd : candidates) {
            NetnsFinder.Found f = Boolean.TRUE.equals(enrolled.get(pd.uid())) ? netnsCache.get(pd.uid()) : null;
            if (Boolean.TRUE.equals(enrolled.get(pd.uid())) && f == null) {
                missing = true;
            }
            if (Boolean.TRUE.equals(enrolled.get(pd.uid())) && f == null && warnedMissing.add(pd.uid())) {
                log.atWarn()
                        .setMessage(
                                "network namespace of the pod not found (no process in the host's /proc has its IP); looking again")
                        .addKeyValue("pod", pd.key())
                        .addKeyValue("ips", pd.ips())
                        .addKeyValue("finder", finder)
                        .log();
            }
            out.add(new Pod(
                    pd.uid(),
                    pd.name(),
                    pd.namespace(),
                    pd.serviceAccount(),
                    pd.ips(),
                    pd.labels(),
                    pd.annotations(),
                    pd.hostNetwork(),
                    f == null ? Optional.<Path>empty() : Optional.of(f.path())));
        }
        netnsCache.keySet().retainAll(enrolled.keySet());
        warnedMissing.retainAll(enrolled.keySet());
        warnedMissing.removeAll(netnsCache.keySet());
        if (missing) {
            rescanDueNanos = System.nanoTime() + rescan.next().toNanos();
        } else {
            rescan.reset();
            rescanDueNanos = Long.MAX_VALUE;
        }
        missingNetns = missing;
        return new ClusterView(nss, out);
    }

    /** The agent's pod, without netns; empty for pods that are finished or have no IP yet. */
    static Optional<Pod> convert(io.fabric8.kubernetes.api.model.Pod p) {
        var meta = p.getMetadata();
        if (meta == null || meta.getUid() == null || meta.getName() == null || meta.getNamespace() == null) {
            return Optional.empty();
        }
        var status = p.getStatus();
        String phase = status == null ? null : status.getPhase();
        if ("Succeeded".equals(phase) || "Failed".equals(phase)) {
            return Optional.empty();
        }
        boolean hostNetwork =
                p.getSpec() != null && Boolean.TRUE.equals(p.getSpec().getHostNetwork());
        List<InetAddress> ips = new ArrayList<>();
        if (status != null) {
            List<String> texts = new ArrayList<>();
            if (status.getPodIPs() != null) {
                for (PodIP ip : status.getPodIPs()) {
                    if (ip != null && ip.getIp() != null) {
                        texts.add(ip.getIp());
                    }
                }
            }
            if (texts.isEmpty() && status.getPodIP() != null) {
                texts.add(status.getPodIP());
            }
            for (String t : texts) {
                try {
                    InetAddress a = InetAddress.ofLiteral(t);
                    if (!ips.contains(a)) {
                        ips.add(a);
                    }
                } catch (IllegalArgumentException e) {
                    log.atWarn()
                            .setMessage("ignoring a malformed pod IP")
                            .addKeyValue("pod", meta.getNamespace() + "/" + meta.getName())
                            .addKeyValue("field", "status.podIPs")
                            .addKeyValue("value", t)
                            .log();
                }
            }
        }
        if (ips.isEmpty() && !hostNetwork) {
            return Optional.empty(); // not running yet: the IP arrives with a later event
        }
        String sa = p.getSpec() == null ? null : p.getSpec().getServiceAccountName();
        return Optional.of(new Pod(
                meta.getUid(),
                meta.getName(),
                meta.getNamespace(),
                sa == null || sa.isEmpty() ? "default" : sa,
                ips,
                orEmpty(meta.getLabels()),
                orEmpty(meta.getAnnotations()),
                hostNetwork,
                Optional.empty()));
    }

    private static Map<String, String> orEmpty(@Nullable Map<String, String> m) {
        if (m == null) {
            return Map.of();
        }
        Map<String, String> out = new HashMap<>();
        m.forEach((k, v) -> {
            if (k != null && v != null) {
                out.put(k, v);
            }
        });
        return out;
    }

    /** True while an enrolled pod's network namespace has not been found (for tests and logs). */
    boolean missingNetns() {
        return missingNetns;
    }

    /** Stops the informers and the source thread (waits up to 5 s for it). */
    @Override
    public void close() {
        Thread t;
        SharedIndexInformer<?> p;
        SharedIndexInformer<?> n;
        synchronized (lock) {
            closed = true;
            t = thread;
            p = pods;
            n = namespaces;
        }
        if (p != null) {
            p.stop();
        }
        if (n != null) {
            n.stop();
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
