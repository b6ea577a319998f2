package io.ztunnel.cni.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.ztunnel.cni.agent.local.LocalConfig;
import io.ztunnel.cni.linux.NetnsId;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.rules.RedirectSettings;
import io.ztunnel.cni.testing.NoFdLeaks;
import io.ztunnel.cni.testing.RequiresNetns;
import io.ztunnel.cni.testing.TestNetns;
import io.ztunnel.cni.zds.ZdsClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole node agent in local mode against real namespaces and the real daemon-side ZDS client:
 * labelling a namespace in the file enrolls its pods (rules in the pod, Add with the pod's netns),
 * removing the label un-enrolls them (rules gone, Del), opted-out and host-network pods are never
 * sent, and a restarted agent hands the reconnecting daemon a snapshot without duplicating rules.
 */
@RequiresNetns(tools = {"iptables-restore", "ip6tables-restore", "nsenter"})
@ExtendWith(NoFdLeaks.class)
class NodeAgentNetnsTest {
    @TempDir
    Path dir;

    private static String yaml(String nsLabels, TestNetns a, TestNetns b) {
        return """
        namespaces:
          - name: demo
            labels: {%s}
        pods:
          - name: a
            namespace: demo
            serviceAccount: sa-a
            netns: %s
          - name: b
            namespace: demo
            netns: %s
            labels: {istio.io/dataplane-mode: none}
          - name: c
            namespace: demo
            hostNetwork: true
        """.formatted(nsLabels, a.name(), b.name());
    }

    /** Replaces the file the way editors do: write a temporary file, rename it over the old one. */
    private void write(Path file, String content) throws IOException {
        Path tmp = Files.createTempFile(dir, ".pods", ".tmp");
        Files.writeString(tmp, content);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private static List<String> istioRules(TestNetns ns) throws IOException {
        return ns.exec("iptables-save")
                .lines()
                .filter(l -> l.startsWith("-A") && l.contains("ISTIO"))
                .toList();
    }

    private static NetnsId idOf(TestNetns ns) throws IOException {
        try (PodNetns n = PodNetns.open(ns.path())) {
            return n.id();
        }
    }

    private static void awaitEnabled(NodeAgentMain.Agent agent, String uid) {
        await().atMost(Duration.ofSeconds(10))
                .until(() -> agent.statuses().containsKey(uid)
                        && agent.statuses().get(uid).state() == PodStatus.State.ENABLED);
    }

    @Test
    void labellingEnrollsUnlabellingUnenrollsAndARestartResendsTheSnapshot() throws Exception {
        Path socket = dir.resolve("ztunnel.sock");
        Path file = dir.resolve("pods.yaml");
        try (TestNetns a = TestNetns.create();
                TestNetns b = TestNetns.create()) {
            write(file, yaml("", a, b));
            String uidA = LocalConfig.load(file).pods().get(0).uid();
            String uidB = LocalConfig.load(file).pods().get(1).uid();
            String uidC = LocalConfig.load(file).pods().get(2).uid();
            AgentConfig config = new AgentConfig(file, socket, Set.of("kube-system"), RedirectSettings.defaults(), 0);
            RecordingDaemon daemon = new RecordingDaemon();

            NodeAgentMain.Agent agent = NodeAgentMain.Agent.start(config);
            try (ZdsClient client = new ZdsClient(socket, daemon)) {
                client.start();
                daemon.await("empty snapshot", e -> e.equals("snapshot []"));
                assertThat(agent.loop().isReady()).isTrue();

                // Label the namespace: pod a is enrolled, b (opted out) and c (host network) are not.
                write(file, yaml("istio.io/dataplane-mode: ambient", a, b));
                String add = daemon.await("add of pod a", e -> e.startsWith("add " + uidA));
                assertThat(add).isEqualTo("add " + uidA + " demo/a " + idOf(a));
                awaitEnabled(agent, uidA);
                assertThat(istioRules(a)).hasSize(18); // with DNS capture, on by default
                assertThat(istioRules(b)).isEmpty();
                assertThat(agent.statuses().keySet()).containsExactly(uidA);

                // Remove the label: rules leave the pod, every daemon gets a Del.
                write(file, yaml("", a, b));
                daemon.await("del of pod a", e -> e.equals("del " + uidA));
                await().atMost(Duration.ofSeconds(10)).until(() -> istioRules(a).isEmpty());
                assertThat(a.exec("ip", "rule")).doesNotContain("32764");
                assertThat(agent.statuses()).isEmpty();

                // Label again, then restart the agent.
                write(file, yaml("istio.io/dataplane-mode: ambient", a, b));
                awaitEnabled(agent, uidA);
                List<String> rulesBefore = istioRules(a);
                agent.close();
                daemon.await("disconnect", e -> e.equals("disconnected"));
                assertThat(istioRules(a)).as("rules stay while no agent runs").isEqualTo(rulesBefore);
                daemon.clear();

                agent = NodeAgentMain.Agent.start(config);
                String snapshotAdd = daemon.await("snapshot add", e -> e.startsWith("add " + uidA));
                assertThat(snapshotAdd).endsWith(idOf(a).toString());
                daemon.await("snapshot with pod a", e -> e.equals("snapshot [" + uidA + "]"));
                assertThat(daemon.events().indexOf(snapshotAdd))
                        .isLessThan(daemon.events().indexOf("snapshot [" + uidA + "]"));
                assertThat(istioRules(a)).as("no duplicates after restart").isEqualTo(rulesBefore);
                assertThat(daemon.events()).noneMatch(e -> e.contains(uidB) || e.contains(uidC));
            } finally {
                agent.close();
            }
            assertThat(Files.exists(socket)).as("socket removed on close").isFalse();
        }
    }
}
