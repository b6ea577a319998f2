package io.ztunnel.cni.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.ztunnel.cni.agent.enrollment.EnrollmentPolicy;
import io.ztunnel.cni.agent.enrollment.Pod;
import io.ztunnel.cni.agent.kube.KubePodHooks;
import io.ztunnel.cni.agent.kube.KubePodSource;
import io.ztunnel.cni.agent.kube.NetnsFinder;
import io.ztunnel.cni.linux.NetnsId;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.rules.InpodRedirector;
import io.ztunnel.cni.rules.InpodRuleSet;
import io.ztunnel.cni.rules.RedirectSettings;
import io.ztunnel.cni.zds.WorkloadInfo;
import io.ztunnel.cni.zds.ZdsClient;
import io.ztunnel.cni.zds.ZdsServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node agent in Kubernetes mode against fabric8's mock API server in CRUD mode ({@link
 * RecordingApiServer}: it records what the agent sent and accepts the production field selector), with
 * the real ZDS server and a daemon-side ZDS client ({@link RecordingDaemon}); only the in-pod rules and
 * the netns lookup are fakes here (they run for real in {@code KubeNodeAgentNetnsTest}). Every step the
 * agent takes is written to one ordered log, so the tests check istio-cni's order too. Annotations are
 * checked on the patches the API server received.
 */
class KubeNodeAgentTest {
    private static final String NODE = "node-1";
    private static final String ANNOTATION = "ambient.istio.io/redirection";

    @SuppressWarnings("NullAway.Init") // set before each test
    RecordingApiServer api;

    @SuppressWarnings("NullAway.Init") // set before each test
    KubernetesMockServer server;

    @SuppressWarnings("NullAway.Init") // set before each test
    KubernetesClient client;

    @TempDir
    Path dir;

    private final List<String> steps = new CopyOnWriteArrayList<>();
    private final Set<String> searched = ConcurrentHashMap.newKeySet();
    private final RecordingDaemon daemon = new RecordingDaemon();
    private @Nullable Running agent;
    private @Nullable ZdsClient daemonClient;

    /** Rules as log lines only. */
    private final InpodRedirector redirector = new InpodRedirector() {
        @Override
        public boolean apply(PodNetns netns, String pod, InpodRuleSet rules) {
            steps.add("rules+ " + pod);
            return true;
        }

        @Override
        public void stopCapture(PodNetns netns, String pod) {
            steps.add("capture- " + pod);
        }

        @Override
        public void remove(PodNetns netns, String pod) {
            steps.add("rules- " + pod);
        }

        @Override
        public List<String> drift(PodNetns netns, String pod, InpodRuleSet rules) {
            return List.of();
        }
    };

    /** Every pod's "namespace" is this process's own (a symlink per pod, as /proc/<pid>/ns/net). */
    private final NetnsFinder finder = wanted -> {
        Map<String, NetnsFinder.Found> out = new LinkedHashMap<>();
        NetnsId self;
        try (PodNetns n = PodNetns.openCurrent()) {
            self = n.id();
        }
        for (String uid : wanted.keySet()) {
            searched.add(uid);
            Path link = dir.resolve("netns-" + uid);
            if (!Files.exists(link, LinkOption.NOFOLLOW_LINKS)) {
                Files.createSymbolicLink(link, Path.of("/proc/self/ns/net"));
            }
            out.put(uid, new NetnsFinder.Found(link, self));
        }
        return out;
    };

    /** An agent's parts, wired as NodeAgentMain does, with the step log around hooks and ZDS. */
    private final class Running implements AutoCloseable {
        final NodeAgent loop;
        final ZdsServer zds;
        final KubePodSource source;

        Running(Path socket) throws IOException {
            KubePodHooks real = new KubePodHooks(client, null);
            PodHooks hooks = new PodHooks() {
                @Override
                public void addProbeTarget(Pod pod) {
                    steps.add("probe+ " + pod.key());
                }

                @Override
                public void removeProbeTarget(Pod pod) {
                    steps.add("probe- " + pod.key());
                }

                @Override
                public void annotate(Pod pod, PodStatus.State state) {
                    real.annotate(pod, state);
                    steps.add("annotate " + pod.key() + " " + state.text());
                }

                @Override
                public void clearAnnotation(Pod pod) {
                    real.clearAnnotation(pod);
                    steps.add("unannotate " + pod.key());
                }
            };
            loop = new NodeAgent(EnrollmentPolicy.defaults(), redirector, RedirectSettings.defaults(), hooks);
            zds = ZdsServer.start(socket, loop::zdsSnapshot);
            ZdsPort port = ZdsPort.of(zds);
            loop.start(new ZdsPort() {
                @Override
                public CompletableFuture<Void> addWorkload(String uid, WorkloadInfo info, PodNetns netns) {
                    steps.add("zds-add " + info.namespace() + "/" + info.name());
                    return port.addWorkload(uid, info, netns);
                }

                @Override
                public CompletableFuture<Void> deleteWorkload(String uid) {
                    steps.add("zds-del " + uid);
                    return port.deleteWorkload(uid);
                }
            });
            source = new KubePodSource(client, NODE, finder, EnrollmentPolicy.defaults(), Duration.ofSeconds(20));
            source.start(loop::update);
        }

        @Override
        public void close() {
            source.close();
            zds.close();
            loop.close();
        }
    }

    @BeforeEach
    void apiServerAndNamespaces() {
        api = new RecordingApiServer();
        server = api.server();
        client = api.client();
        namespace("demo", Map.of());
        namespace("kube-system", Map.of("istio.io/dataplane-mode", "ambient"));
    }

    @AfterEach
    void stop() {
        if (daemonClient != null) {
            daemonClient.close();
        }
        if (agent != null) {
            agent.close();
        }
        api.close();
    }

    private Running startAgent() throws IOException {
        Path socket = dir.resolve("ztunnel.sock");
        Running started = new Running(socket);
        agent = started;
        if (daemonClient == null) {
            daemonClient = new ZdsClient(socket, daemon);
            daemonClient.start();
        }
        return started;
    }

    private void namespace(String name, Map<String, String> labels) {
        client.namespaces()
                .resource(new NamespaceBuilder()
                        .withNewMetadata()
                        .withName(name)
                        .withLabels(labels)
                        .endMetadata()
                        .build())
                .createOr(r -> r.update());
    }

    private void labelNamespace(String name, @Nullable String mode) {
        client.namespaces().withName(name).edit(ns -> {
            Map<String, String> labels = new LinkedHashMap<>(
                    ns.getMetadata().getLabels() == null
                            ? Map.of()
                            : ns.getMetadata().getLabels());
            if (mode == null) {
                labels.remove("istio.io/dataplane-mode");
            } else {
                labels.put("istio.io/dataplane-mode", mode);
            }
            ns.getMetadata().setLabels(labels);
            return ns;
        });
    }

    /** Creates a running pod and returns its uid. */
    private String pod(
            String ns, String name, String node, String ip, Map<String, String> labels, boolean hostNetwork) {
        io.fabric8.kubernetes.api.model.Pod p = new PodBuilder()
                .withNewMetadata()
                .withNamespace(ns)
                .withName(name)
                .withLabels(labels)
                .endMetadata()
                .withNewSpec()
                .withNodeName(node)
                .withServiceAccountName("sa-" + name)
                .withHostNetwork(hostNetwork)
                .endSpec()
                .withNewStatus()
                .withPhase("Running")
                .withPodIP(ip)
                .addNewPodIP(ip)
                .endStatus()
                .build();
        var created = client.pods().inNamespace(ns).resource(p).create();
        created.setStatus(p.getStatus()); // the kubelet's part
        client.pods().inNamespace(ns).resource(created).updateStatus();
        return created.getMetadata().getUid();
    }

    /** Waits until the last status patch the API server accepted for the pod set the annotation to {@code value}. */
    private void awaitAnnotation(String ns, String name, String uid, @Nullable String value) {
        await().atMost(Duration.ofSeconds(10)).until(() -> {
            List<@Nullable String> set = api.statusAnnotations(ns, name, uid, ANNOTATION);
            return !set.isEmpty() && Objects.equals(set.get(set.size() - 1), value);
        });
    }

    private static String idOfSelf() throws IOException {
        try (PodNetns n = PodNetns.openCurrent()) {
            return n.id().toString();
        }
    }

    @Test
    void labellingANamespaceEnrollsItsPodsOnThisNodeOnly() throws Exception {
        String a = pod("demo", "a", NODE, "10.1.0.5", Map.of(), false);
        String optOut = pod("demo", "opt-out", NODE, "10.1.0.6", Map.of("istio.io/dataplane-mode", "none"), false);
        String host = pod("demo", "host", NODE, "192.168.0.10", Map.of(), true);
        String elsewhere = pod("demo", "elsewhere", "node-2", "10.2.0.5", Map.of(), false);
        String system = pod("kube-system", "dns", NODE, "10.1.0.9", Map.of(), false);
        Running running = startAgent();
        daemon.await("the first snapshot", e -> e.startsWith("snapshot"));
        assertThat(daemon.events()).containsExactly("snapshot []");

        labelNamespace("demo", "ambient");

        assertThat(daemon.await("add of pod a", e -> e.startsWith("add " + a)))
                .isEqualTo("add " + a + " demo/a " + idOfSelf());
        awaitAnnotation("demo", "a", a, "enabled");
        await().atMost(Duration.ofSeconds(10)).until(() -> steps.contains("annotate demo/a enabled"));
        assertThat(steps)
                .containsExactly("rules+ demo/a", "zds-add demo/a", "probe+ demo/a", "annotate demo/a enabled");
        for (String other : List.of("opt-out", "host", "elsewhere")) {
            assertThat(api.statusPatches("demo", other)).as(other).isEmpty();
        }
        assertThat(api.statusPatches("kube-system", "dns"))
                .as("kube-system is excluded")
                .isEmpty();
        assertThat(api.statusAnnotations("demo", "a", a, ANNOTATION))
                .as("one patch of a's status")
                .containsExactly("enabled");
        assertThat(api.podListsAndWatches())
                .as("pods are listed and watched for this node only")
                .isNotEmpty()
                .allMatch(p -> p.contains("fieldSelector=spec.nodeName=" + NODE), "has the node's field selector");
        assertThat(daemon.events())
                .noneMatch(e -> e.contains(optOut) || e.contains(host) || e.contains(elsewhere) || e.contains(system));
        assertThat(searched).as("the only netns looked for").containsExactly(a);
        assertThat(running.loop.statuses().keySet()).containsExactly(a);
        assertThat(StatusServer.metrics(running.loop)).contains("ztunnel_node_agent_pods{state=\"enabled\"} 1\n");

        // A pod that starts later in the labelled namespace is enrolled from the watch.
        String late = pod("demo", "late", NODE, "10.1.0.7", Map.of(), false);
        daemon.await("add of the late pod", e -> e.startsWith("add " + late + " demo/late"));
        awaitAnnotation("demo", "late", late, "enabled");
    }

    @Test
    void removingTheNamespaceLabelUnenrollsInIstioCniOrder() throws Exception {
        String a = pod("demo", "a", NODE, "10.1.0.5", Map.of(), false);
        labelNamespace("demo", "ambient");
        Running running = startAgent();
        awaitAnnotation("demo", "a", a, "enabled");
        daemon.await("add of pod a", e -> e.startsWith("add " + a));
        steps.clear();

        labelNamespace("demo", null);

        daemon.await("del of pod a", e -> e.equals("del " + a));
        awaitAnnotation("demo", "a", a, null);
        await().atMost(Duration.ofSeconds(10)).until(() -> steps.contains("unannotate demo/a"));
        // istio-cni's order, except that the rules go in two steps around the Del (see NodeAgent#remove).
        assertThat(steps)
                .containsExactly(
                        "probe- demo/a", "capture- demo/a", "zds-del " + a, "rules- demo/a", "unannotate demo/a");
        await().atMost(Duration.ofSeconds(10))
                .until(() -> running.loop.statuses().isEmpty());
        Thread.sleep(300); // the informer now shows the pod without the annotation: nothing more happens
        assertThat(steps).hasSize(5);
    }

    @Test
    void aPodThatOptsOutIsUnenrolledAndItsNeighboursStay() throws Exception {
        String a = pod("demo", "a", NODE, "10.1.0.5", Map.of(), false);
        String b = pod("demo", "b", NODE, "10.1.0.6", Map.of(), false);
        labelNamespace("demo", "ambient");
        Running running = startAgent();
        awaitAnnotation("demo", "a", a, "enabled");
        awaitAnnotation("demo", "b", b, "enabled");

        client.pods().inNamespace("demo").withName("a").edit(p -> {
            p.getMetadata().setLabels(Map.of("istio.io/dataplane-mode", "none"));
            return p;
        });

        daemon.await("del of pod a", e -> e.equals("del " + a));
        awaitAnnotation("demo", "a", a, null);
        assertThat(api.statusAnnotations("demo", "b", b, ANNOTATION))
                .as("b's annotation stays")
                .endsWith("enabled")
                .doesNotContainNull();
        assertThat(daemon.events()).doesNotContain("del " + b);
        assertThat(running.loop.statuses().keySet()).containsExactly(b);
    }

    @Test
    void aRestartedAgentReconcilesWhatChangedWhileItWasDown() throws Exception {
        String a = pod("demo", "a", NODE, "10.1.0.5", Map.of(), false);
        String b = pod("demo", "b", NODE, "10.1.0.6", Map.of(), false);
        labelNamespace("demo", "ambient");
        Running first = startAgent();
        awaitAnnotation("demo", "a", a, "enabled");
        awaitAnnotation("demo", "b", b, "enabled");
        first.close();
        agent = null;
        daemon.await("disconnect", e -> e.equals("disconnected"));
        Objects.requireNonNull(daemonClient).close(); // ztunnel reconnects only after the agent started
        daemonClient = null;

        // While no agent runs: b opts out, c starts.
        client.pods().inNamespace("demo").withName("b").edit(p -> {
            p.getMetadata().getLabels().put("istio.io/dataplane-mode", "none");
            return p;
        });
        String c = pod("demo", "c", NODE, "10.1.0.7", Map.of(), false);
        daemon.clear();
        steps.clear();

        Running running = new Running(dir.resolve("ztunnel.sock"));
        agent = running;
        await().atMost(Duration.ofSeconds(10))
                .until(() -> steps.contains("zds-add demo/a")
                        && running.loop.statuses().containsKey(a)
                        && running.loop.statuses().get(a).message().startsWith("no ztunnel connection"));
        assertThat(api.statusAnnotations("demo", "a", a, ANNOTATION))
                .as("a stays enabled while no ztunnel is connected")
                .last()
                .isEqualTo("enabled");
        daemonClient = new ZdsClient(dir.resolve("ztunnel.sock"), daemon);
        daemonClient.start();

        daemon.await("snapshot", e -> e.startsWith("snapshot"));
        assertThat(daemon.events()).contains("add " + a + " demo/a " + idOfSelf());
        awaitAnnotation("demo", "c", c, "enabled");
        awaitAnnotation("demo", "b", b, null);
        assertThat(steps)
                .as("b's rules are removed, in order")
                .containsSubsequence(
                        "probe- demo/b", "capture- demo/b", "zds-del " + b, "rules- demo/b", "unannotate demo/b");
        assertThat(steps)
                .as("a was enabled before the restart; no second patch")
                .doesNotContain("annotate demo/a enabled", "annotate demo/a pending");
        assertThat(api.statusAnnotations("demo", "a", a, ANNOTATION))
                .as("the API server got one patch enabling a in all")
                .filteredOn("enabled"::equals)
                .hasSize(1);
        assertThat(running.loop.statuses().keySet()).containsExactlyInAnyOrder(a, c);
    }

    @Test
    void apiErrorsOnTheStatusPatchAreRetriedWithoutBlockingOtherPods() throws Exception {
        String a = pod("demo", "a", NODE, "10.1.0.5", Map.of(), false);
        String b = pod("demo", "b", NODE, "10.1.0.6", Map.of(), false);
        // 403 as while the agent's RBAC binding propagates (the client itself retries 5xx, not 4xx).
        server.expect()
                .patch()
                .withPath("/api/v1/namespaces/demo/pods/a/status")
                .andReturn(
                        403,
                        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":\"Forbidden\",\"code\":403}")
                .times(3);
        Running running = startAgent();
        daemon.await("the first snapshot", e -> e.equals("snapshot []"));

        labelNamespace("demo", "ambient");

        awaitAnnotation("demo", "b", b, "enabled");
        awaitAnnotation("demo", "a", a, "enabled");
        assertThat(api.statusPatches("demo", "a"))
                .extracting(r -> r.code() / 100)
                .as("three refused patches (403), then one accepted (2xx)")
                .containsExactly(4, 4, 4, 2);
        assertThat(StatusServer.metrics(running.loop))
                .contains("ztunnel_node_agent_failures_total{operation=\"annotation\"} 3\n")
                .contains("ztunnel_node_agent_pods{state=\"enabled\"} 2\n");
        assertThat(daemon.events().stream()
                        .filter(e -> e.startsWith("add " + a))
                        .count())
                .as("the daemon gets the pod once; annotation retries do not repeat the add")
                .isEqualTo(1);
    }

    @Test
    void withoutAZtunnelThePodIsAnnotatedPendingThenEnabled() throws Exception {
        String a = pod("demo", "a", NODE, "10.1.0.5", Map.of(), false);
        labelNamespace("demo", "ambient");
        agent = new Running(dir.resolve("ztunnel.sock")); // no daemon connected yet
        awaitAnnotation("demo", "a", a, "pending");
        daemonClient = new ZdsClient(dir.resolve("ztunnel.sock"), daemon);
        daemonClient.start();
        awaitAnnotation("demo", "a", a, "enabled");
    }
}
