package io.ztunnel.cni.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.ztunnel.cni.agent.enrollment.EnrollmentPolicy;
import io.ztunnel.cni.agent.kube.KubePodHooks;
import io.ztunnel.cni.agent.kube.KubePodSource;
import io.ztunnel.cni.agent.kube.NetnsFinder;
import io.ztunnel.cni.agent.kube.ProcNetnsFinder;
import io.ztunnel.cni.exec.CommandRunner;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.rules.HostProbeSnat;
import io.ztunnel.cni.rules.InpodRedirector;
import io.ztunnel.cni.rules.IpFamily;
import io.ztunnel.cni.rules.RedirectSettings;
import io.ztunnel.cni.testing.RequiresNetns;
import io.ztunnel.cni.testing.TestNetns;
import io.ztunnel.cni.zds.ZdsClient;
import io.ztunnel.cni.zds.ZdsServer;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kubernetes mode for real, as root: pods are network namespaces made by the test, each with a
 * process in it, found by scanning {@code /proc}; the in-pod rules are programmed by our code; the
 * host probe set lives in a namespace standing in for the node; pods and namespaces come from
 * fabric8's CRUD mock API server ({@link RecordingApiServer}, which records what the agent sent); ZDS is
 * real with a daemon-side client.
 */
@RequiresNetns(tools = {"iptables-restore", "ip6tables-restore", "nsenter", "ipset"})
class KubeNodeAgentNetnsTest {
    private static final String ANNOTATION = "ambient.istio.io/redirection";

    @SuppressWarnings("NullAway.Init") // set before each test
    RecordingApiServer api;

    @SuppressWarnings("NullAway.Init") // set before each test
    KubernetesClient client;

    @BeforeEach
    void apiServer() {
        api = new RecordingApiServer();
        client = api.client();
    }

    @AfterEach
    void stopApiServer() {
        api.close();
    }

    @TempDir
    Path dir;

    private static List<String> istioRules(TestNetns ns) throws IOException {
        return ns.exec("iptables-save")
                .lines()
                .filter(l -> l.startsWith("-A") && l.contains("ISTIO"))
                .toList();
    }

    private String pod(String name, String ip) {
        var p = new PodBuilder()
                .withNewMetadata()
                .withNamespace("demo")
                .withName(name)
                .endMetadata()
                .withNewSpec()
                .withNodeName("node-1")
                .withServiceAccountName("sa-" + name)
                .endSpec()
                .withNewStatus()
                .withPhase("Running")
                .withPodIP(ip)
                .addNewPodIP(ip)
                .endStatus()
                .build();
        var created = client.pods().inNamespace("demo").resource(p).create();
        created.setStatus(p.getStatus());
        client.pods().inNamespace("demo").resource(created).updateStatus();
        return created.getMetadata().getUid();
    }

    /** The annotation value the last accepted {@code pods/a/status} patch set (absent: none yet). */
    private Optional<String> lastAnnotation(String uid) {
        List<@Nullable String> set = api.statusAnnotations("demo", "a", uid, ANNOTATION);
        return set.isEmpty() ? Optional.empty() : Optional.of(Objects.toString(set.get(set.size() - 1), "<removed>"));
    }

    private void labelNamespace(@Nullable String mode) {
        client.namespaces().withName("demo").edit(ns -> {
            ns.getMetadata().setLabels(mode == null ? Map.of() : Map.of("istio.io/dataplane-mode", mode));
            return ns;
        });
    }

    /** Starts a long-lived process inside {@code ns}, as a pod's sandbox process. */
    private static Process sandboxProcess(TestNetns ns) throws IOException {
        return new ProcessBuilder("ip", "netns", "exec", ns.name(), "sleep", "600").start();
    }

    @Test
    void procScanFindsThePodNamespaceByIpAndNeverTheHost() throws Exception {
        try (TestNetns a = TestNetns.create()) {
            a.addInterface("10.77.0.5/24");
            Process p = sandboxProcess(a);
            try {
                ProcNetnsFinder finder = new ProcNetnsFinder(Path.of("/proc"));
                InetAddress ip = InetAddress.ofLiteral("10.77.0.5");
                await().atMost(Duration.ofSeconds(5))
                        .until(() -> finder.find(Map.of("a", List.of(ip))).containsKey("a"));
                NetnsFinder.Found found = finder.find(Map.of("a", List.of(ip))).get("a");
                assertThat(found).isNotNull();
                try (PodNetns expected = PodNetns.open(a.path())) {
                    assertThat(found.id()).isEqualTo(expected.id());
                }
                assertThat(found.path().toString()).matches("/proc/\\d+/ns/net");
                assertThat(finder.find(Map.of("x", List.of(InetAddress.ofLiteral("10.77.9.9")))))
                        .isEmpty();
                // Every namespace with lo up has 127.0.0.1, the host's too; the host's is never an answer.
                NetnsFinder.Found lo = finder.find(Map.of("lo", List.of(InetAddress.ofLiteral("127.0.0.1"))))
                        .get("lo");
                if (lo != null) {
                    assertThat(Optional.of(lo.id())).isNotEqualTo(ProcNetnsFinder.idOf(Path.of("/proc/1/ns/net")));
                }
            } finally {
                p.destroyForcibly().waitFor();
            }
        }
    }

    @Test
    void labellingTheNamespaceRedirectsTheRunningPodAndUnlabellingUndoesIt() throws Exception {
        client.namespaces()
                .resource(new NamespaceBuilder()
                        .withNewMetadata()
                        .withName("demo")
                        .endMetadata()
                        .build())
                .create();
        Path socket = dir.resolve("ztunnel.sock");
        RecordingDaemon daemon = new RecordingDaemon();
        try (TestNetns host = TestNetns.create();
                TestNetns a = TestNetns.create();
                PodNetns hostNetns = PodNetns.open(host.path())) {
            a.addInterface("10.77.0.5/24");
            Process sandbox = sandboxProcess(a);
            String uid = pod("a", "10.77.0.5");
            HostProbeSnat probes =
                    new HostProbeSnat(CommandRunner.in(hostNetns), RedirectSettings.defaults(), Duration.ofSeconds(10));
            probes.install();
            PodHooks hooks = new KubePodHooks(client, probes);
            NodeAgent loop = new NodeAgent(
                    EnrollmentPolicy.defaults(),
                    InpodRedirector.create(RedirectSettings.defaults()),
                    RedirectSettings.defaults(),
                    hooks);
            ZdsServer zds = ZdsServer.start(socket, loop::zdsSnapshot);
            loop.start(ZdsPort.of(zds));
            KubePodSource source = new KubePodSource(
                    client,
                    "node-1",
                    new ProcNetnsFinder(Path.of("/proc")),
                    EnrollmentPolicy.defaults(),
                    Duration.ofSeconds(20));
            try (ZdsClient zdsClient = new ZdsClient(socket, daemon)) {
                source.start(loop::update);
                zdsClient.start();
                daemon.await("empty snapshot", e -> e.equals("snapshot []"));
                assertThat(istioRules(a)).isEmpty();

                labelNamespace("ambient");

                String add = daemon.await("add of pod a", e -> e.startsWith("add " + uid));
                try (PodNetns expected = PodNetns.open(a.path())) {
                    assertThat(add).isEqualTo("add " + uid + " demo/a " + expected.id());
                }
                await().atMost(Duration.ofSeconds(10))
                        .until(() -> lastAnnotation(uid).equals(Optional.of("enabled")));
                assertThat(api.podListsAndWatches())
                        .as("pods are listed and watched for this node only")
                        .isNotEmpty()
                        .allMatch(
                                p -> p.contains("fieldSelector=spec.nodeName=node-1"), "has the node's field selector");
                assertThat(istioRules(a)).hasSize(18); // with DNS capture (on by default): 2 redirects, the raw table
                assertThat(istioRules(a)).anyMatch(r -> r.contains("--dport 53") && r.contains("--to-ports 15053"));
                assertThat(a.exec("ip", "rule")).contains("32764");
                assertThat(probes.list(IpFamily.V4)).contains(Map.of("10.77.0.5", uid));

                labelNamespace(null);

                daemon.await("del of pod a", e -> e.equals("del " + uid));
                await().atMost(Duration.ofSeconds(10))
                        .until(() -> lastAnnotation(uid).equals(Optional.of("<removed>")));
                assertThat(istioRules(a)).isEmpty();
                assertThat(a.exec("ip", "rule")).doesNotContain("32764");
                assertThat(probes.list(IpFamily.V4))
                        .hasValueSatisfying(m -> assertThat(m).doesNotContainKey("10.77.0.5"));
            } finally {
                source.close();
                zds.close();
                loop.close();
                sandbox.destroyForcibly().waitFor();
            }
        }
    }
}
