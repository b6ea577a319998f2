package io.ztunnel.cni.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Reading the agent's environment: defaults, overrides, and errors that name the variable. */
class AgentConfigTest {
    @Test
    void defaultsMatchIstioCni() {
        AgentConfig c = AgentConfig.fromEnv(Map.of("AGENT_LOCAL_CONFIG", "/etc/ztunnel/pods.yaml"));
        assertThat(c.localConfig()).isEqualTo(Path.of("/etc/ztunnel/pods.yaml"));
        assertThat(c.zdsSocket()).isEqualTo(Path.of("/var/run/ztunnel/ztunnel.sock"));
        assertThat(c.excludedNamespaces()).containsExactly("kube-system");
        assertThat(c.redirect().dnsCapture()).isTrue();
        assertThat(c.redirect().ipv6()).isTrue();
        assertThat(c.redirect().nativeNftables()).isFalse();
        assertThat(c.redirect().probeSnatV4()).isEqualTo(InetAddress.ofLiteral("169.254.7.127"));
        assertThat(c.readinessPort()).isEqualTo(8000);
    }

    @Test
    void everyVariableIsRead() {
        AgentConfig c = AgentConfig.fromEnv(Map.of(
                "AGENT_LOCAL_CONFIG", "pods.yaml",
                "INPOD_UDS", "/tmp/z.sock",
                "EXCLUDE_NAMESPACES", "infra, tools,",
                "AMBIENT_DNS_CAPTURE", "false",
                "AMBIENT_IPV6", "false",
                "NATIVE_NFTABLES", "1",
                "HOST_PROBE_SNAT_IP", "169.254.9.9",
                "HOST_PROBE_SNAT_IPV6", "fd00::9",
                "READINESS_PORT", "0"));
        assertThat(c.zdsSocket()).isEqualTo(Path.of("/tmp/z.sock"));
        assertThat(c.excludedNamespaces()).containsExactlyInAnyOrder("infra", "tools");
        assertThat(c.redirect().dnsCapture()).isFalse();
        assertThat(c.redirect().ipv6()).isFalse();
        assertThat(c.redirect().nativeNftables()).isTrue();
        assertThat(c.redirect().probeSnatV4()).isEqualTo(InetAddress.ofLiteral("169.254.9.9"));
        assertThat(c.redirect().probeSnatV6()).isEqualTo(InetAddress.ofLiteral("fd00::9"));
        assertThat(c.readinessPort()).isZero();
        assertThat(AgentConfig.fromEnv(Map.of("AGENT_LOCAL_CONFIG", "x", "EXCLUDE_NAMESPACES", ""))
                        .excludedNamespaces())
                .isEmpty();
    }

    @Test
    void nodeNameWithoutALocalFileSelectsKubernetesMode() {
        AgentConfig c = AgentConfig.fromEnv(Map.of("NODE_NAME", "node-1"));
        assertThat(c.localConfig()).isNull();
        assertThat(c.kube()).isNotNull();
        assertThat(c.kube().nodeName()).isEqualTo("node-1");
        assertThat(c.kube().hostProc()).isEqualTo(Path.of("/host/proc"));
        assertThat(c.kube().syncTimeout()).isEqualTo(Duration.ofSeconds(60));
        AgentConfig custom = AgentConfig.fromEnv(
                Map.of("NODE_NAME", "node-1", "HOST_PROC", "/proc", "KUBE_SYNC_TIMEOUT_SECONDS", "5"));
        assertThat(custom.kube()).isNotNull();
        assertThat(custom.kube().hostProc()).isEqualTo(Path.of("/proc"));
        assertThat(custom.kube().syncTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(AgentConfig.fromEnv(Map.of("NODE_NAME", "node-1", "AGENT_LOCAL_CONFIG", "x"))
                        .kube())
                .as("the local file wins")
                .isNull();
    }

    @Test
    void errorsNameTheVariable() {
        assertThatThrownBy(() -> AgentConfig.fromEnv(Map.of()))
                .hasMessageStartingWith("set AGENT_LOCAL_CONFIG (local mode")
                .hasMessageContaining("NODE_NAME (Kubernetes mode");
        assertThatThrownBy(() -> AgentConfig.fromEnv(Map.of("NODE_NAME", "n", "KUBE_SYNC_TIMEOUT_SECONDS", "0")))
                .hasMessage("KUBE_SYNC_TIMEOUT_SECONDS=\"0\" is not a whole number from 1 to 3600");
        assertThatThrownBy(() -> AgentConfig.fromEnv(Map.of("AGENT_LOCAL_CONFIG", "x", "AMBIENT_IPV6", "maybe")))
                .hasMessage("AMBIENT_IPV6=\"maybe\" is not a boolean (true/false)");
        assertThatThrownBy(() -> AgentConfig.fromEnv(Map.of("AGENT_LOCAL_CONFIG", "x", "READINESS_PORT", "80000")))
                .hasMessage("READINESS_PORT=\"80000\" is not a port number (0-65535)");
        assertThatThrownBy(
                        () -> AgentConfig.fromEnv(Map.of("AGENT_LOCAL_CONFIG", "x", "HOST_PROBE_SNAT_IP", "fd00::1")))
                .hasMessage("HOST_PROBE_SNAT_IP=\"fd00::1\" is not an IPv4 address");
    }
}
