package io.ztunnel.cni.agent;

import io.ztunnel.cni.ErrorText;
import io.ztunnel.cni.agent.enrollment.EnrollmentDecision;
import io.ztunnel.cni.agent.enrollment.EnrollmentPolicy;
import io.ztunnel.cni.agent.enrollment.Pod;
import io.ztunnel.cni.linux.NetnsId;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.rules.InpodRedirector;
import io.ztunnel.cni.rules.InpodRuleSet;
import io.ztunnel.cni.rules.PodOverrides;
import io.ztunnel.cni.rules.RedirectSettings;
import io.ztunnel.cni.zds.WorkloadInfo;
import io.ztunnel.cni.zds.ZdsException;
import io.ztunnel.cni.zds.ZdsServer.SnapshotEntry;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent's reconcile loop: makes the pods that the {@link EnrollmentPolicy} enrolls have
 * their redirection rules and be known to the daemon, and undoes both for pods that leave.
 *
 * <p>For each newly enrolled pod, in the source's order: open its network namespace, apply the
 * in-pod rules ({@link InpodRedirector}), then send {@code AddWorkload} with the netns fd over ZDS.
 * The pod is {@code enabled} once a daemon ACKs; a NACK or "no ztunnel connection" leaves it {@code
 * pending} with its rules in place, and the add is retried with a per-pod backoff of 5 ms doubling
 * to 5 s. A pod whose annotation already said {@code enabled} when this agent found it (it was
 * enrolled before an agent restart) keeps that annotation while no ztunnel is connected: it is in
 * the snapshot the reconnecting ztunnel receives. A failure to open the namespace or apply the
 * rules is {@code error: ...}, retried the same way. A pod whose annotations change gets its rules re-applied.
 *
 * <p>With {@link PodHooks} (Kubernetes mode) an accepted pod's IPs then go into the host probe set
 * and its {@code ambient.istio.io/redirection} annotation is set to {@code enabled} ({@code
 * pending} after a failed add), as istio-cni does.
 *
 * <p>For a pod that is no longer enrolled (label removed, opted out, removed from the source), in
 * istio-cni's order: its IPs leave the host probe set; if its namespace still exists, its rules are
 * deleted; {@code DelWorkload} goes to every daemon; the status annotation is removed; then the fd
 * is closed and the pod forgotten. A step that fails is retried from there, so the annotation stays
 * until everything before it succeeded. A pod that is not enrolled but still carries the annotation
 * (an agent stopped before un-enrolling it) goes through the same removal. If its namespace is gone (deleted, or recreated under the same name) the rules
 * are not touched, as in istio-cni; a recreated namespace is then enrolled as new. A failure to
 * remove is retried and shown as an error.
 *
 * <p>On start every enrolled pod goes through the same steps, so existing rules are checked and
 * re-applied only where they drifted. Daemons that connect get a snapshot of the pods whose rules
 * are in place ({@link #zdsSnapshot()}), taken after the first reconcile has finished so a daemon
 * never drops pods just because the agent restarted. On close, rules stay in place for the next
 * agent, as istio-cni leaves them.
 *
 * <p><b>Threading.</b> One platform thread, "cni-agent-reconcile", owns all per-pod state and does
 * all the work (commands, netns opens, ZDS calls); other threads only enqueue events ({@link
 * #update}, ZDS completions) or read the published immutable snapshots ({@link #statuses()}, {@link
 * #zdsSnapshot()}). A failure on one pod is confined to that pod. <b>Ownership.</b> The agent owns
 * the {@link PodNetns} of every tracked pod and closes it when the pod is forgotten or the agent
 * closes; ZDS only borrows them.
 */
public final class NodeAgent implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NodeAgent.class);
    private static final Duration SNAPSHOT_WAIT = Duration.ofSeconds(30);

    /** How long the rest of a leaving pod's rules wait for the daemons to acknowledge its Del. */
    static final Duration DEL_WAIT = Duration.ofSeconds(2);

    private final EnrollmentPolicy policy;
    private final InpodRedirector redirector;
    private final RedirectSettings settings;
    private final PodHooks hooks;
    private final ConcurrentHashMap<String, LongAdder> failures = new ConcurrentHashMap<>();

    private final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private final CountDownLatch initialReconcile = new CountDownLatch(1);
    private final Object lifecycle = new Object();
    private @Nullable Thread thread; // guarded by lifecycle
    private boolean closed; // guarded by lifecycle

    private volatile List<SnapshotEntry> snapshot = List.of();
    private volatile Map<String, PodStatus> statuses = Map.of();

    // Confined to the reconcile thread.
    private @Nullable ZdsPort zds;
    private @Nullable ClusterView view;
    private final Map<String, Tracked> tracked = new LinkedHashMap<>();
    private final Map<String, String> lastDecision = new HashMap<>();
    // Pods whose annotation we removed, until the source shows them without it.
    private final Set<String> annotationCleared = new HashSet<>();

    private sealed interface Event {
        record ViewChanged(ClusterView view) implements Event {}

        record AddDone(String uid, long attempt, @Nullable Throwable error) implements Event {}

        record DelDone(String uid, long attempt) implements Event {}

        record Stop() implements Event {}
    }

    /** One pod the agent has taken on. Confined to the reconcile thread. */
    private static final class Tracked {
        Pod pod;
        InpodRuleSet rules;

        @Nullable
        PodNetns netns;

        @Nullable
        InpodRuleSet applied;

        boolean touched; // an apply was attempted: remove must run even if it failed halfway
        boolean accepted;
        boolean adding;
        long attempt;
        boolean removing;

        @Nullable
        String error; // rules or netns failure (status error)

        String pendingReason = "waiting for a ztunnel to accept the pod";
        final RetryBackoff backoff = new RetryBackoff();
        long dueNanos;
        boolean probed; // IPs in the host probe set
        PodStatus.@Nullable State reported; // the annotation as last written (or found)
        boolean delSent;
        boolean delDone; // every daemon acknowledged the Del (or it failed): the rules may go
        long delDeadlineNanos; // the rules go then even without the acknowledgements
        boolean captureStopped; // the jumps into the pod's chains are gone, the chains still there

        @Nullable
        String hookError; // last probe/annotation failure, for logs (not the status)

        Tracked(Pod pod, InpodRuleSet rules, long now) {
            this.pod = pod;
            this.rules = rules;
            this.dueNanos = now;
            this.reported = annotationState(pod);
        }
    }

    public NodeAgent(EnrollmentPolicy policy, InpodRedirector redirector, RedirectSettings settings) {
        this(policy, redirector, settings, PodHooks.NONE);
    }

    public NodeAgent(EnrollmentPolicy policy, InpodRedirector redirector, RedirectSettings settings, PodHooks hooks) {
        this.policy = Objects.requireNonNull(policy, "policy");
        this.redirector = Objects.requireNonNull(redirector, "redirector");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.hooks = Objects.requireNonNull(hooks, "hooks");
    }

    /** The annotation state written on {@code pod}, if it is one of ours. */
    private static PodStatus.@Nullable State annotationState(Pod pod) {
        String v = pod.annotations().get(PodHooks.REDIRECTION_ANNOTATION);
        for (PodStatus.State s : PodStatus.State.values()) {
            if (s.text().equals(v)) {
                return s;
            }
        }
        return null;
    }

    /**
     * Failures so far by operation ({@code netns}, {@code rules}, {@code zds_add}, {@code
     * probe_set}, {@code annotation}, {@code remove}); thread-safe, for metrics.
     */
    public Map<String, Long> failureCounts() {
        Map<String, Long> m = new TreeMap<>();
        failures.forEach((k, v) -> m.put(k, v.sum()));
        return m;
    }

    private void countFailure(String operation) {
        failures.computeIfAbsent(operation, k -> new LongAdder()).increment();
    }

    /** Starts the reconcile thread; ZDS calls go to {@code zds}. */
    public void start(ZdsPort zds) {
        Objects.requireNonNull(zds, "zds");
        synchronized (lifecycle) {
            if (thread != null || closed) {
                throw new IllegalStateException("NodeAgent already started or closed");
            }
            thread =
                    Thread.ofPlatform().name("cni-agent-reconcile").daemon(true).start(() -> run(zds));
        }
    }

    /** A new view from the pod source (any thread). */
    public void update(ClusterView newView) {
        events.add(new Event.ViewChanged(Objects.requireNonNull(newView, "view")));
    }

    /** The status of each enrolled pod by uid, in enrollment order (a snapshot). */
    public Map<String, PodStatus> statuses() {
        return statuses;
    }

    /** True once the first view has been reconciled (every pod tried once). */
    public boolean isReady() {
        return initialReconcile.getCount() == 0;
    }

    /** Waits up to {@code timeout} for the first reconcile; true if it finished. */
    public boolean awaitInitialReconcile(Duration timeout) throws InterruptedException {
        return initialReconcile.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    /**
     * The pods to send a newly connected daemon: every enrolled pod whose rules are in place, with
     * its netns (still owned by the agent). Waits up to 30 s for the first reconcile, so an agent
     * restart never hands a reconnecting daemon an incomplete list. For {@link
     * io.ztunnel.cni.zds.ZdsServer#start}'s supplier; thread-safe.
     */
    public List<SnapshotEntry> zdsSnapshot() {
        try {
            if (!awaitInitialReconcile(SNAPSHOT_WAIT)) {
                log.atWarn()
                        .setMessage("first reconcile not finished; sending ztunnel a partial snapshot")
                        .log();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return snapshot;
    }

    /** Stops the loop and closes every netns fd; rules stay in the pods. */
    @Override
    public void close() {
        Thread t;
        synchronized (lifecycle) {
            if (closed) {
                return;
            }
            closed = true;
            t = thread;
        }
        events.add(new Event.Stop());
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(Duration.ofSeconds(30));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void run(ZdsPort port) {
        this.zds = port;
        try {
            while (true) {
                long wait = nextDueNanos() - System.nanoTime();
                Event e = wait == Long.MAX_VALUE ? events.take() : events.poll(Math.max(0, wait), TimeUnit.NANOSECONDS);
                boolean stop = false;
                while (e != null) {
                    stop |= handle(e);
                    e = events.poll();
                }
                if (stop) {
                    break;
                }
                reconcile();
                publish();
                if (view != null && initialReconcile.getCount() > 0) {
                    initialReconcile.countDown();
                    log.atInfo()
                            .setMessage("initial reconcile done")
                            .addKeyValue("pods", tracked.size())
                            .log();
                }
            }
        } catch (InterruptedException e) {
            // only close() would; fall through to cleanup
        } catch (RuntimeException e) {
            log.atError().setMessage("reconcile loop died").setCause(e).log();
        } finally {
            for (Tracked t : tracked.values()) {
                if (t.netns != null) {
                    t.netns.close();
                }
            }
            tracked.clear();
            snapshot = List.of();
        }
    }

    private long nextDueNanos() {
        long next = Long.MAX_VALUE;
        for (Tracked t : tracked.values()) {
            if (needsWork(t)) {
                next = Math.min(next, t.dueNanos);
            }
        }
        return next;
    }

    private static boolean needsWork(Tracked t) {
        return t.removing
                || t.netns == null
                || !t.rules.equals(t.applied)
                || (!t.accepted && !t.adding)
                || (t.accepted && (!t.probed || t.reported != PodStatus.State.ENABLED));
    }

    /** Returns true for Stop. */
    private boolean handle(Event e) {
        switch (e) {
            case Event.ViewChanged v -> view = v.view();
            case Event.AddDone done -> addDone(done);
            case Event.DelDone done -> delDone(done);
            case Event.Stop s -> {
                return true;
            }
        }
        return false;
    }

    private void delDone(Event.DelDone done) {
        Tracked t = tracked.get(done.uid());
        if (t != null && t.attempt == done.attempt() && t.removing && t.delSent && !t.delDone) {
            t.delDone = true;
            t.dueNanos = System.nanoTime(); // next: the rest of the rules
        }
    }

    private void addDone(Event.AddDone done) {
        Tracked t = tracked.get(done.uid());
        if (t == null || t.attempt != done.attempt() || !t.adding) {
            return; // stale: the pod was removed or re-added meanwhile
        }
        t.adding = false;
        if (done.error() == null) {
            t.accepted = true;
            t.backoff.reset();
            t.dueNanos = System.nanoTime(); // next: the probe set and the annotation
            log.atInfo()
                    .setMessage("pod enabled")
                    .addKeyValue("pod", t.pod.key())
                    .addKeyValue("uid", t.pod.uid())
                    .log();
            return;
        }
        Throwable cause =
                done.error() instanceof CompletionException ce && ce.getCause() != null ? ce.getCause() : done.error();
        String reason = ErrorText.of(cause);
        Duration delay = t.backoff.next();
        t.dueNanos = System.nanoTime() + delay.toNanos();
        if (!reason.equals(t.pendingReason)) {
            log.atWarn()
                    .setMessage("pod pending: ztunnel did not accept it; will retry")
                    .addKeyValue("pod", t.pod.key())
                    .addKeyValue("uid", t.pod.uid())
                    .addKeyValue("reason", reason)
                    .log();
        }
        t.pendingReason = reason;
        countFailure("zds_add");
        if (t.reported == PodStatus.State.ENABLED && cause instanceof ZdsException z && z.isNoConnection()) {
            // Its annotation already says enabled (typically: enrolled before this agent started, and
            // ztunnel reconnects after an agent restart) and no ztunnel is connected: the pod is in the
            // snapshot the next ztunnel gets, so the annotation stays. Marking it pending would patch every
            // enrolled pod twice on each agent restart; the agent's own status still says pending.
            return;
        }
        if (t.reported != PodStatus.State.PENDING) {
            try {
                hooks.annotate(t.pod, PodStatus.State.PENDING);
                t.reported = PodStatus.State.PENDING;
            } catch (Exception e) {
                hookFailed(t, "annotation", e);
            }
        }
    }

    private void hookFailed(Tracked t, String operation, Exception e) {
        countFailure(operation);
        String message = operation + ": " + ErrorText.of(e);
        if (!message.equals(t.hookError)) {
            log.atWarn()
                    .setMessage("pod step failed; will retry")
                    .addKeyValue("pod", t.pod.key())
                    .addKeyValue("uid", t.pod.uid())
                    .addKeyValue("step", operation)
                    .addKeyValue("error", ErrorText.of(e))
                    .log();
        }
        t.hookError = message;
    }

    private void reconcile() {
        if (view == null) {
            return;
        }
        long now = System.nanoTime();
        Map<String, Pod> desired = new LinkedHashMap<>();
        for (Pod pod : view.pods()) {
            EnrollmentDecision d = policy.decide(pod, view.namespace(pod.namespace()));
            String summary = (d.enrolled() ? "enrolled: " : "not enrolled: ") + d.reason();
            if (!summary.equals(lastDecision.put(pod.uid(), summary))) {
                log.atInfo()
                        .setMessage("enrollment decision")
                        .addKeyValue("pod", pod.key())
                        .addKeyValue("uid", pod.uid())
                        .addKeyValue("enrolled", d.enrolled())
                        .addKeyValue("reason", d.reason())
                        .log();
            }
            if (d.enrolled()) {
                desired.put(pod.uid(), pod);
            }
        }
        lastDecision.keySet().retainAll(view.podsByUid().keySet());
        adoptAnnotated(desired, now);

        for (Tracked t : List.copyOf(tracked.values())) {
            Pod want = desired.get(t.pod.uid());
            boolean leave = want == null || sandboxChanged(t, want);
            if (leave && !t.removing) {
                t.removing = true;
                t.backoff.reset();
                t.dueNanos = now;
                t.error = null;
            } else if (!leave && t.removing) {
                t.removing = false; // enrolled again before removal finished: re-apply instead
                if (!t.touched || t.captureStopped) {
                    t.applied = null; // the rules were already (partly) removed
                }
                t.captureStopped = false;
                if (t.delSent) {
                    t.accepted = false; // the daemons were told to drop it: add again
                    t.delSent = false;
                    t.delDone = false;
                }
                t.error = null;
                t.dueNanos = now;
            }
            if (t.removing && t.dueNanos <= now) {
                remove(t);
            }
        }

        for (Pod pod : desired.values()) {
            Tracked t = tracked.get(pod.uid());
            InpodRuleSet rules = rulesFor(pod);
            if (t == null) {
                t = new Tracked(pod, rules, now);
                if (annotationCleared.remove(pod.uid())) {
                    t.reported = null; // the view still shows the annotation we just removed
                }
                tracked.put(pod.uid(), t);
            } else if (t.removing) {
                continue; // the old sandbox is still being removed
            } else {
                t.pod = pod;
                if (!rules.equals(t.rules)) {
                    t.rules = rules;
                    t.dueNanos = now;
                }
            }
            if (t.dueNanos <= now) {
                step(t, now);
            }
        }
    }

    /**
     * A pod that is not enrolled yet carries our annotation (an earlier agent enrolled it and
     * stopped before un-enrolling it) is taken on as "leaving", so the whole removal runs: probe set,
     * rules (if its namespace is known and exists), Del, annotation.
     */
    private void adoptAnnotated(Map<String, Pod> desired, long now) {
        for (Pod pod : Objects.requireNonNull(view).pods()) {
            if (!pod.annotations().containsKey(PodHooks.REDIRECTION_ANNOTATION)) {
                annotationCleared.remove(pod.uid());
                continue;
            }
            if (desired.containsKey(pod.uid())
                    || tracked.containsKey(pod.uid())
                    || annotationCleared.contains(pod.uid())) {
                continue;
            }
            Tracked t = new Tracked(pod, rulesFor(pod), now);
            t.removing = true;
            t.touched = pod.netns().isPresent();
            t.probed = true;
            tracked.put(pod.uid(), t);
            log.atInfo()
                    .setMessage("pod is annotated but not enrolled; removing its redirection")
                    .addKeyValue("pod", pod.key())
                    .addKeyValue("uid", pod.uid())
                    .log();
        }
        annotationCleared.retainAll(Objects.requireNonNull(view).podsByUid().keySet());
    }

    private InpodRuleSet rulesFor(Pod pod) {
        PodOverrides overrides;
        try {
            overrides = PodOverrides.fromAnnotations(pod.annotations());
        } catch (IllegalArgumentException e) {
            log.atWarn()
                    .setMessage("ignoring invalid pod annotation")
                    .addKeyValue("pod", pod.key())
                    .addKeyValue("error", ErrorText.of(e))
                    .log();
            overrides = PodOverrides.NONE;
        }
        return InpodRuleSet.resolve(settings, overrides);
    }

    /** The pod's namespace is no longer the one we hold: other path, or the path now names another. */
    private static boolean sandboxChanged(Tracked t, Pod want) {
        if (t.netns == null && t.pod.netns().isEmpty()) {
            return false; // its namespace was not known yet (Kubernetes: not found yet); now it may be
        }
        if (!want.netns().equals(t.pod.netns())) {
            return true;
        }
        if (t.netns == null) {
            return false;
        }
        Optional<NetnsId> now = currentId(want.netns());
        return now.isEmpty() || !now.get().equals(t.netns.id());
    }

    private static Optional<NetnsId> currentId(Optional<Path> path) {
        if (path.isEmpty()) {
            return Optional.empty();
        }
        try (PodNetns probe = PodNetns.open(path.get())) {
            return Optional.of(probe.id());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Opens, applies, adds: as far as it gets; schedules a retry on failure. */
    private void step(Tracked t, long now) {
        Pod pod = t.pod;
        try {
            if (t.netns == null) {
                Path path = pod.netns().orElseThrow(() -> new IOException("pod has no network namespace path"));
                t.netns = PodNetns.open(path);
            }
            if (!t.rules.equals(t.applied)) {
                t.touched = true;
                redirector.apply(t.netns, pod.key(), t.rules);
                t.applied = t.rules;
                if (t.error != null) {
                    log.atInfo()
                            .setMessage("pod rules applied after an earlier failure")
                            .addKeyValue("pod", pod.key())
                            .log();
                    t.backoff.reset();
                }
                t.error = null;
            }
        } catch (IOException | RuntimeException e) {
            countFailure(t.netns == null ? "netns" : "rules");
            String message = ErrorText.of(e);
            if (!message.equals(t.error)) {
                log.atError()
                        .setMessage("cannot redirect pod; will retry")
                        .addKeyValue("pod", pod.key())
                        .addKeyValue("uid", pod.uid())
                        .addKeyValue("error", message)
                        .log();
            }
            t.error = message;
            t.dueNanos = now + t.backoff.next().toNanos();
            return;
        }
        if (!t.accepted && !t.adding) {
            t.adding = true;
            long attempt = ++t.attempt;
            String uid = pod.uid();
            WorkloadInfo info = new WorkloadInfo(pod.name(), pod.namespace(), pod.serviceAccount());
            t.dueNanos = Long.MAX_VALUE; // until the add completes
            Objects.requireNonNull(zds)
                    .addWorkload(uid, info, t.netns)
                    .whenComplete((ok, err) -> events.add(new Event.AddDone(uid, attempt, err)));
            return;
        }
        if (t.accepted) {
            try {
                if (!t.probed) {
                    hooks.addProbeTarget(pod);
                    t.probed = true;
                }
            } catch (Exception e) {
                hookFailed(t, "probe_set", e);
                t.dueNanos = now + t.backoff.next().toNanos();
                return;
            }
            try {
                if (t.reported != PodStatus.State.ENABLED) {
                    hooks.annotate(pod, PodStatus.State.ENABLED);
                    t.reported = PodStatus.State.ENABLED;
                }
            } catch (Exception e) {
                hookFailed(t, "annotation", e);
                t.dueNanos = now + t.backoff.next().toNanos();
                return;
            }
            t.hookError = null;
        }
    }

    /**
     * Section A.10's order, with the rules removed in two steps around the Del: out of the probe set;
     * if the namespace is still there, capture stopped (the jumps into the pod's chains removed, so
     * new connections flow directly, as once the rules are gone in istio-cni); Del to every daemon;
     * once they acknowledged it (or after {@link #DEL_WAIT}) the rest of the rules removed; annotation
     * removed; then the fd is closed and the pod forgotten. Each step that succeeded is not repeated
     * on a retry.
     *
     * <p>Why the split: the daemon closes the pod's connections when the Del arrives, and the app
     * only sees that close while the kernel still translates the redirected connection (the FIN or
     * RST leaves the daemon's socket on port 15001 and must reach the app as coming from the original
     * destination). Removing the pod's last NAT rule can stop connection tracking in the namespace
     * altogether, so with all rules gone first the app's connections would stay open forever.
     */
    private void remove(Tracked t) {
        Pod pod = t.pod;
        if (t.probed) {
            try {
                hooks.removeProbeTarget(pod);
                t.probed = false;
            } catch (Exception e) {
                hookFailed(t, "probe_set", e);
                t.error = "removing from the host probe set: " + ErrorText.of(e);
                t.dueNanos = System.nanoTime() + t.backoff.next().toNanos();
                return;
            }
        }
        if (t.netns == null && t.touched && pod.netns().isPresent()) {
            try {
                t.netns = PodNetns.open(pod.netns().get()); // an adopted pod: its rules may be in there
            } catch (IOException e) {
                t.touched = false; // the namespace is gone, and its rules with it
            }
        }
        String uid = pod.uid();
        try {
            if (!t.captureStopped && t.netns != null && t.touched && stillExists(t)) {
                redirector.stopCapture(t.netns, pod.key());
            }
            t.captureStopped = true;
            if (!t.delSent) {
                t.delSent = true;
                t.delDone = false;
                sendDelete(uid, t.attempt);
                t.delDeadlineNanos = System.nanoTime() + DEL_WAIT.toNanos();
            }
            if (!t.delDone && t.touched && System.nanoTime() < t.delDeadlineNanos) {
                t.dueNanos = t.delDeadlineNanos; // or sooner, when the acknowledgements arrive
                return;
            }
            if (t.netns != null && t.touched && stillExists(t)) {
                redirector.remove(t.netns, pod.key());
            }
            t.touched = false;
        } catch (IOException | RuntimeException e) {
            countFailure("remove");
            String message = "removing redirection: " + ErrorText.of(e);
            if (!message.equals(t.error)) {
                log.atError()
                        .setMessage("cannot remove pod's redirection; will retry")
                        .addKeyValue("pod", pod.key())
                        .addKeyValue("uid", pod.uid())
                        .addKeyValue("error", ErrorText.of(e))
                        .log();
            }
            t.error = message;
            t.dueNanos = System.nanoTime() + t.backoff.next().toNanos();
            return;
        }
        if (t.reported != null) {
            try {
                hooks.clearAnnotation(pod);
                t.reported = null;
                annotationCleared.add(uid);
            } catch (Exception e) {
                hookFailed(t, "annotation", e);
                t.error = "removing the status annotation: " + ErrorText.of(e);
                t.dueNanos = System.nanoTime() + t.backoff.next().toNanos();
                return;
            }
        }
        if (t.netns != null) {
            t.netns.close();
        }
        tracked.remove(uid);
        log.atInfo()
                .setMessage("pod removed from the mesh")
                .addKeyValue("pod", pod.key())
                .addKeyValue("uid", uid)
                .log();
    }

    private void sendDelete(String uid, long attempt) {
        Objects.requireNonNull(zds).deleteWorkload(uid).whenComplete((ok, err) -> {
            events.add(new Event.DelDone(uid, attempt));
            if (err != null) {
                log.atWarn()
                        .setMessage(
                                "DelWorkload not acknowledged (a reconnecting ztunnel drops the pod with its next snapshot)")
                        .addKeyValue("uid", uid)
                        .addKeyValue("error", ErrorText.of(err))
                        .log();
            }
        });
    }

    /** Whether the pod's namespace path still names the namespace we hold. */
    private static boolean stillExists(Tracked t) {
        PodNetns held = Objects.requireNonNull(t.netns);
        return currentId(t.pod.netns()).map(held.id()::equals).orElse(false);
    }

    private void publish() {
        List<SnapshotEntry> entries = new ArrayList<>();
        Map<String, PodStatus> st = new LinkedHashMap<>();
        for (Tracked t : tracked.values()) {
            Pod pod = t.pod;
            if (!t.removing && t.netns != null && t.applied != null) {
                entries.add(new SnapshotEntry.Add(
                        pod.uid(), new WorkloadInfo(pod.name(), pod.namespace(), pod.serviceAccount()), t.netns));
            }
            PodStatus status;
            if (t.error != null) {
                status = new PodStatus(pod.uid(), pod.key(), PodStatus.State.ERROR, t.error);
            } else if (t.removing) {
                continue;
            } else if (t.accepted && t.rules.equals(t.applied)) {
                status = new PodStatus(pod.uid(), pod.key(), PodStatus.State.ENABLED, "");
            } else {
                status = new PodStatus(pod.uid(), pod.key(), PodStatus.State.PENDING, t.pendingReason);
            }
            st.put(pod.uid(), status);
        }
        snapshot = List.copyOf(entries);
        statuses = Collections.unmodifiableMap(st);
    }
}
