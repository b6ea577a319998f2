package io.ztunnel.cni.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.ztunnel.cni.agent.enrollment.EnrollmentPolicy;
import io.ztunnel.cni.agent.enrollment.Namespace;
import io.ztunnel.cni.agent.enrollment.Pod;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.rules.InpodRedirector;
import io.ztunnel.cni.rules.InpodRuleSet;
import io.ztunnel.cni.rules.RedirectException;
import io.ztunnel.cni.rules.RedirectSettings;
import io.ztunnel.cni.zds.WorkloadInfo;
import io.ztunnel.cni.zds.ZdsServer.SnapshotEntry;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The reconcile loop's decisions with a fake redirector and a fake ZDS (no root needed): order of
 * steps, pending and retry, errors confined to one pod, un-enrollment, re-apply on annotation
 * change, the ZDS snapshot and the status API.
 */
class NodeAgentTest {
    private static final Path OWN_NETNS = Path.of("/proc/self/ns/net");
    private static final Map<String, String> AMBIENT = Map.of("istio.io/dataplane-mode", "ambient");

    /** Records applies/removes; fails for pods listed in {@link #failing}. */
    static final class FakeRedirector implements InpodRedirector {
        final List<String> calls = new CopyOnWriteArrayList<>();
        final Set<String> failing = ConcurrentHashMap.newKeySet();

        @Override
        public boolean apply(PodNetns netns, String pod, InpodRuleSet rules) throws RedirectException {
            if (failing.contains(pod)) {
                calls.add("apply-failed " + pod);
                throw new RedirectException(
                        pod,
                        "applying iptables rules (V4)",
                        new IOException("\"iptables-restore --noflush\" in netns x exited 4: resource problem"));
            }
            calls.add("apply " + pod + (rules.ingressMode() ? " ingress" : ""));
            return true;
        }

        @Override
        public void stopCapture(PodNetns netns, String pod) throws RedirectException {
            if (failing.contains(pod)) {
                throw new RedirectException(pod, "stopping the capture", new IOException("busy"));
            }
            calls.add("stop-capture " + pod);
        }

        @Override
        public void remove(PodNetns netns, String pod) throws RedirectException {
            if (failing.contains(pod)) {
                throw new RedirectException(pod, "removing iptables rules", new IOException("busy"));
            }
            calls.add("remove " + pod);
        }

        @Override
        public List<String> drift(PodNetns netns, String pod, InpodRuleSet rules) {
            return List.of();
        }
    }

    /** A daemon that accepts adds when {@link #connected}, else fails like ZdsServer does. */
    static final class FakeZds implements ZdsPort {
        final List<String> calls = new CopyOnWriteArrayList<>();
        volatile boolean connected = true;

        @Override
        public CompletableFuture<Void> addWorkload(String uid, WorkloadInfo info, PodNetns netns) {
            calls.add("add " + info.namespace() + "/" + info.name());
            return connected
                    ? CompletableFuture.completedFuture(null)
                    : CompletableFuture.failedFuture(
                            new IOException("no ztunnel connection (AddWorkload for uid " + uid + ")"));
        }

        /** The answer to the next Dels; null: acknowledged at once. */
        volatile @Nullable CompletableFuture<Void> delReply;

        @Override
        public CompletableFuture<Void> deleteWorkload(String uid) {
            calls.add("del " + uid);
            CompletableFuture<Void> reply = delReply;
            return reply != null ? reply : CompletableFuture.completedFuture(null);
        }
    }

    private final FakeRedirector redirector = new FakeRedirector();
    private final FakeZds zds = new FakeZds();
    private final NodeAgent agent = new NodeAgent(EnrollmentPolicy.defaults(), redirector, RedirectSettings.defaults());

    @AfterEach
    void close() {
        agent.close();
    }

    private static Pod pod(String name, Map<String, String> labels, Map<String, String> annotations) {
        return new Pod(
                "uid-" + name, name, "demo", "sa", List.of(), labels, annotations, false, Optional.of(OWN_NETNS));
    }

    private static ClusterView view(Map<String, String> nsLabels, Pod... pods) {
        return new ClusterView(List.of(new Namespace("demo", nsLabels)), List.of(pods));
    }

    private void awaitState(String uid, PodStatus.State state) {
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            PodStatus status = agent.statuses().get(uid);
            return status != null && status.state() == state;
        });
    }

    /** The published status of pod {@code uid}, which must have one. */
    private PodStatus status(String uid) {
        PodStatus status = agent.statuses().get(uid);
        if (status == null) {
            throw new AssertionError(
                    "no status for " + uid + " among " + agent.statuses().keySet());
        }
        return status;
    }

    @Test
    void enrollsPodsInOrderRulesFirstThenZds() {
        agent.start(zds);
        agent.update(view(
                AMBIENT,
                pod("a", Map.of(), Map.of()),
                pod("b", Map.of(), Map.of()),
                pod("skip", Map.of("istio.io/dataplane-mode", "none"), Map.of())));
        awaitState("uid-a", PodStatus.State.ENABLED);
        awaitState("uid-b", PodStatus.State.ENABLED);
        assertThat(redirector.calls).containsExactly("apply demo/a", "apply demo/b");
        assertThat(zds.calls).containsExactly("add demo/a", "add demo/b");
        assertThat(agent.statuses().keySet()).containsExactly("uid-a", "uid-b");
        assertThat(status("uid-a").describe()).isEqualTo("enabled");
    }

    @Test
    void withoutAZtunnelThePodIsPendingWithRulesInPlaceAndRetried() {
        zds.connected = false;
        agent.start(zds);
        agent.update(view(AMBIENT, pod("a", Map.of(), Map.of())));
        awaitState("uid-a", PodStatus.State.PENDING);
        await().atMost(Duration.ofSeconds(10))
                .until(() -> status("uid-a").message().startsWith("no ztunnel connection"));
        await().atMost(Duration.ofSeconds(10)).until(() -> zds.calls.size() >= 3); // 5, 10, 20 ms...
        assertThat(redirector.calls).containsExactly("apply demo/a");
        assertThat(agent.zdsSnapshot()).extracting(SnapshotEntry::uid).containsExactly("uid-a");

        zds.connected = true;
        awaitState("uid-a", PodStatus.State.ENABLED);
        assertThat(redirector.calls)
                .as("rules are not re-applied for a ZDS retry")
                .hasSize(1);
    }

    @Test
    void aFailingPodDoesNotBlockTheOthersAndRecoversByItself() {
        redirector.failing.add("demo/a");
        agent.start(zds);
        agent.update(view(AMBIENT, pod("a", Map.of(), Map.of()), pod("b", Map.of(), Map.of())));
        awaitState("uid-b", PodStatus.State.ENABLED);
        awaitState("uid-a", PodStatus.State.ERROR);
        assertThat(status("uid-a").describe())
                .startsWith(
                        "error: pod demo/a: applying iptables rules (V4) failed: \"iptables-restore --noflush\" in netns x exited 4");
        assertThat(zds.calls).containsExactly("add demo/b");
        assertThat(agent.zdsSnapshot()).extracting(SnapshotEntry::uid).containsExactly("uid-b");

        redirector.failing.clear();
        awaitState("uid-a", PodStatus.State.ENABLED);
        assertThat(zds.calls).containsExactly("add demo/b", "add demo/a");
    }

    @Test
    void unenrollingStopsTheCaptureTellsEveryZtunnelAndRemovesTheRestOfTheRulesOnceItAcknowledged() {
        agent.start(zds);
        agent.update(view(AMBIENT, pod("a", Map.of(), Map.of())));
        awaitState("uid-a", PodStatus.State.ENABLED);
        CompletableFuture<Void> ack = new CompletableFuture<>();
        zds.delReply = ack;
        agent.update(view(Map.of(), pod("a", Map.of(), Map.of())));
        await().atMost(Duration.ofSeconds(10)).until(() -> zds.calls.contains("del uid-a"));
        // The Del went out after the capture stopped, and the chains (which keep the kernel translating the
        // pod's redirected connections, so the daemon's close reaches the app) wait for the acknowledgement.
        assertThat(redirector.calls).containsExactly("apply demo/a", "stop-capture demo/a");
        assertThat(agent.zdsSnapshot()).isEmpty();
        // A window shorter than DEL_WAIT: only the acknowledgement may let the rules go now.
        await().during(Duration.ofMillis(500))
                .atMost(Duration.ofSeconds(1))
                .until(() -> !redirector.calls.contains("remove demo/a"));
        ack.complete(null);
        await().atMost(Duration.ofSeconds(10)).until(() -> redirector.calls.contains("remove demo/a"));
        assertThat(redirector.calls).containsExactly("apply demo/a", "stop-capture demo/a", "remove demo/a");
        assertThat(zds.calls).containsExactly("add demo/a", "del uid-a");
    }

    @Test
    void anUnacknowledgedDelHoldsTheRulesOnlyForAWhile() {
        agent.start(zds);
        agent.update(view(AMBIENT, pod("a", Map.of(), Map.of())));
        awaitState("uid-a", PodStatus.State.ENABLED);
        zds.delReply = new CompletableFuture<>(); // a daemon that never answers
        long start = System.nanoTime();
        agent.update(view(Map.of(), pod("a", Map.of(), Map.of())));
        await().atMost(Duration.ofSeconds(10)).until(() -> redirector.calls.contains("remove demo/a"));
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(NodeAgent.DEL_WAIT);
        assertThat(redirector.calls).containsExactly("apply demo/a", "stop-capture demo/a", "remove demo/a");
    }

    @Test
    void aFailedRemovalIsRetriedAndShownAsAnError() {
        agent.start(zds);
        agent.update(view(AMBIENT, pod("a", Map.of(), Map.of())));
        awaitState("uid-a", PodStatus.State.ENABLED);
        redirector.failing.add("demo/a");
        agent.update(view(AMBIENT)); // pod gone from the source, its netns still exists
        awaitState("uid-a", PodStatus.State.ERROR);
        assertThat(status("uid-a").message()).startsWith("removing redirection: pod demo/a");
        assertThat(zds.calls).doesNotContain("del uid-a");
        redirector.failing.clear();
        await().atMost(Duration.ofSeconds(10)).until(() -> zds.calls.contains("del uid-a"));
        assertThat(agent.statuses()).isEmpty();
    }

    @Test
    void anAnnotationChangeReappliesTheRulesWithoutAnotherAdd() {
        agent.start(zds);
        agent.update(view(AMBIENT, pod("a", Map.of(), Map.of())));
        awaitState("uid-a", PodStatus.State.ENABLED);
        agent.update(view(AMBIENT, pod("a", Map.of(), Map.of("ambient.istio.io/bypass-inbound-capture", "true"))));
        await().atMost(Duration.ofSeconds(10)).until(() -> redirector.calls.size() == 2);
        assertThat(redirector.calls).containsExactly("apply demo/a", "apply demo/a ingress");
        assertThat(zds.calls).containsExactly("add demo/a");
    }

    @Test
    void aPodWhoseNetnsIsMissingIsAnErrorNamingThePath() {
        agent.start(zds);
        Pod ghost = new Pod(
                "uid-g",
                "g",
                "demo",
                "sa",
                List.of(),
                AMBIENT,
                Map.of(),
                false,
                Optional.of(Path.of("/var/run/netns/ztunnel-test-no-such-netns")));
        agent.update(view(Map.of(), ghost));
        awaitState("uid-g", PodStatus.State.ERROR);
        assertThat(status("uid-g").message())
                .contains("/var/run/netns/ztunnel-test-no-such-netns")
                .contains("ENOENT");
        assertThat(zds.calls).isEmpty();
    }

    @Test
    void aPodWhoseNamespaceIsFoundLaterIsEnrolledThenWithoutADelete() {
        agent.start(zds);
        Pod unknown = new Pod("uid-l", "l", "demo", "sa", List.of(), Map.of(), Map.of(), false, Optional.empty());
        agent.update(view(AMBIENT, unknown));
        awaitState("uid-l", PodStatus.State.ERROR);
        assertThat(status("uid-l").message()).isEqualTo("pod has no network namespace path");
        agent.update(view(AMBIENT, pod("l", Map.of(), Map.of())));
        awaitState("uid-l", PodStatus.State.ENABLED);
        assertThat(zds.calls).containsExactly("add demo/l");
        assertThat(redirector.calls).containsExactly("apply demo/l");
    }

    @Test
    void statusApiReportsReadinessAndEachPod() throws Exception {
        try (StatusServer status = StatusServer.start(new InetSocketAddress("127.0.0.1", 0), agent)) {
            assertThat(get(status.address(), "/readyz")).startsWith("503 not ready");
            zds.connected = false;
            agent.start(zds);
            agent.update(view(AMBIENT, pod("a", Map.of(), Map.of())));
            awaitState("uid-a", PodStatus.State.PENDING);
            assertThat(get(status.address(), "/readyz")).isEqualTo("200 ready\n");
            assertThat(get(status.address(), "/status"))
                    .startsWith(
                            "200 {\"ready\":true,\"pods\":[{\"uid\":\"uid-a\",\"pod\":\"demo/a\",\"status\":\"pending\",\"message\":\"no ztunnel connection");
        }
    }

    private static String get(InetSocketAddress address, String path) throws Exception {
        HttpURLConnection c = (HttpURLConnection) URI.create("http://127.0.0.1:" + address.getPort() + path)
                .toURL()
                .openConnection();
        try {
            int code = c.getResponseCode();
            try (InputStream in = code < 400 ? c.getInputStream() : c.getErrorStream()) {
                return code + " " + new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
        } finally {
            c.disconnect();
        }
    }
}
