package io.ztunnel.cni.agent.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ztunnel.cni.agent.ClusterView;
import io.ztunnel.cni.agent.enrollment.Pod;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The local YAML schema: what parses to what, and errors that name the line and the field. */
class LocalConfigTest {
    private static final String FULL = """
      namespaces:
        - name: demo
          labels:
            istio.io/dataplane-mode: ambient
      pods:
        - name: client
          namespace: demo
          serviceAccount: sleep
          ips: [10.10.0.2, "fd00::2"]
          netns: client-ns
          labels: {app: client}
          annotations: {ambient.istio.io/bypass-inbound-capture: "true"}
        - name: host-agent
          namespace: demo
          uid: fixed-uid
          hostNetwork: true
        - name: server
          namespace: other
          netns: /proc/1/ns/net
      """;

    @Test
    void parsesEveryField() throws Exception {
        ClusterView view = LocalConfig.parse(FULL, "pods.yaml");
        assertThat(view.namespace("demo").orElseThrow().labels()).containsEntry("istio.io/dataplane-mode", "ambient");
        assertThat(view.namespace("other")).isEmpty();
        Pod client = view.pods().get(0);
        assertThat(client.key()).isEqualTo("demo/client");
        assertThat(client.serviceAccount()).isEqualTo("sleep");
        assertThat(client.ips()).containsExactly(InetAddress.ofLiteral("10.10.0.2"), InetAddress.ofLiteral("fd00::2"));
        assertThat(client.netns()).contains(Path.of("/var/run/netns/client-ns"));
        assertThat(client.labels()).isEqualTo(Map.of("app", "client"));
        assertThat(client.annotations()).containsEntry("ambient.istio.io/bypass-inbound-capture", "true");
        assertThat(client.hostNetwork()).isFalse();
        Pod host = view.pods().get(1);
        assertThat(host.uid()).isEqualTo("fixed-uid");
        assertThat(host.hostNetwork()).isTrue();
        assertThat(host.netns()).isEqualTo(Optional.empty());
        assertThat(host.serviceAccount()).isEqualTo("default");
        assertThat(view.pods().get(2).netns()).contains(Path.of("/proc/1/ns/net"));
    }

    @Test
    void generatedUidsAreStableAndDistinct() throws Exception {
        String a = LocalConfig.parse(FULL, "x").pods().get(0).uid();
        String again = LocalConfig.parse(FULL.replace("serviceAccount: sleep", "serviceAccount: other"), "x")
                .pods()
                .get(0)
                .uid();
        String server = LocalConfig.parse(FULL, "x").pods().get(2).uid();
        assertThat(a).isEqualTo(again).isNotEqualTo(server).hasSize(36);
    }

    @Test
    void emptyListsAreFineButAnEmptyFileIsNot() throws Exception {
        assertThat(LocalConfig.parse("pods: []\n", "x").pods()).isEmpty();
        assertThat(LocalConfig.parse("namespaces:\npods:\n", "x").pods()).isEmpty();
        assertThatThrownBy(() -> LocalConfig.parse("", "pods.yaml"))
                .isInstanceOf(LocalConfigException.class)
                .hasMessage("pods.yaml: the file is empty (write \"pods: []\" for a node without pods)");
    }

    @Test
    void unknownTopLevelFieldNamesLineAndField() {
        assertThatThrownBy(() -> LocalConfig.parse("pods: []\nworkloads: []\n", "pods.yaml"))
                .isInstanceOf(LocalConfigException.class)
                .hasMessage("pods.yaml: line 2: workloads: unknown field (allowed: namespaces, pods)")
                .satisfies(e -> assertThat(((LocalConfigException) e).line()).isEqualTo(2));
    }

    @Test
    void unknownPodFieldNamesLineAndFieldAndTheAllowedOnes() {
        String yaml = "pods:\n  - name: a\n    namespace: n\n    netns: a\n    lables: {x: y}\n";
        assertThatThrownBy(() -> LocalConfig.parse(yaml, "pods.yaml"))
                .hasMessageStartingWith(
                        "pods.yaml: line 5: pods[0].lables: unknown field (allowed: annotations, hostNetwork, ips, labels, name, namespace, netns, serviceAccount, uid)");
    }

    @Test
    void missingRequiredFieldsAreNamed() {
        assertThatThrownBy(() -> LocalConfig.parse("pods:\n  - namespace: n\n    netns: a\n", "f"))
                .hasMessage("f: line 2: pods[0].name: required, must not be empty");
        assertThatThrownBy(() -> LocalConfig.parse("pods:\n  - name: a\n    netns: a\n", "f"))
                .hasMessage("f: line 2: pods[0].namespace: required, must not be empty");
        assertThatThrownBy(() -> LocalConfig.parse("pods:\n  - name: a\n    namespace: n\n", "f"))
                .hasMessageStartingWith("f: line 2: pods[0].netns: required");
        assertThatThrownBy(() -> LocalConfig.parse("namespaces:\n  - labels: {}\n", "f"))
                .hasMessage("f: line 2: namespaces[0].name: required, must not be empty");
    }

    @Test
    void badValuesAreNamed() {
        assertThatThrownBy(
                        () -> LocalConfig.parse("pods:\n  - {name: a, namespace: n, netns: a, ips: [10.0.0]}\n", "f"))
                .hasMessage("f: line 2: pods[0].ips[0]: \"10.0.0\" is not an IP address");
        assertThatThrownBy(() -> LocalConfig.parse("pods:\n  - {name: a, namespace: n, netns: rel/path}\n", "f"))
                .hasMessage("f: line 2: pods[0].netns: \"rel/path\" must be a bare name or an absolute path");
        assertThatThrownBy(() ->
                        LocalConfig.parse("pods:\n  - name: a\n    namespace: n\n    netns: a\n    labels: [x]\n", "f"))
                .hasMessageStartingWith("f: line 5: pods[0].labels: ");
        assertThatThrownBy(() -> LocalConfig.parse(
                        "pods:\n  - name: a\n    namespace: n\n    netns: a\n    hostNetwork: maybe\n", "f"))
                .hasMessageStartingWith("f: line 5: pods[0].hostNetwork: ");
        assertThatThrownBy(() -> LocalConfig.parse("pods: {name: a}\n", "f"))
                .hasMessage("f: line 1: pods: must be a list");
        assertThatThrownBy(() -> LocalConfig.parse("- a\n", "f"))
                .hasMessage("f: line 1: must be a mapping with 'namespaces' and 'pods'");
    }

    @Test
    void duplicatesAreRejected() {
        String twoPods = "pods:\n  - {name: a, namespace: n, netns: a}\n  - {name: a, namespace: n, netns: b}\n";
        assertThatThrownBy(() -> LocalConfig.parse(twoPods, "f"))
                .hasMessage("f: line 3: pods[1]: pod n/a is already pods[0]");
        String twoUids =
                "pods:\n  - {name: a, namespace: n, netns: a, uid: u}\n  - {name: b, namespace: n, netns: b, uid: u}\n";
        assertThatThrownBy(() -> LocalConfig.parse(twoUids, "f"))
                .hasMessage("f: line 3: pods[1].uid: uid u is already used by pods[0]");
        assertThatThrownBy(() -> LocalConfig.parse("namespaces:\n  - {name: n}\n  - {name: n}\n", "f"))
                .hasMessage("f: line 3: namespaces[1].name: \"n\" is already namespaces[0]");
        assertThatThrownBy(() -> LocalConfig.parse("pods: []\npods: []\n", "f"))
                .hasMessageContaining("line 2")
                .hasMessageContaining("Duplicate field 'pods'");
    }

    @Test
    void malformedYamlNamesTheLine() {
        assertThatThrownBy(() -> LocalConfig.parse("pods:\n  - name: a\n   namespace: [\n", "f"))
                .isInstanceOf(LocalConfigException.class)
                .hasMessageStartingWith("f: line ");
    }
}
