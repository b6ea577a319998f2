package io.ztunnel.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Value;
import io.ztunnel.core.control.ControlPlane;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Configuration from the environment, the mesh config file and {@code PROXY_CONFIG}, and the errors a user sees. */
class ConfigTest {
    @TempDir
    Path dir;

    private Path absent() {
        return dir.resolve("no-mesh");
    }

    private Config from(Map<String, String> vars) {
        return Config.from(new Env(vars), absent());
    }

    @Test
    void defaultsOutsideKubernetesUseLocalStateAndUpstreamPorts() {
        Config c = from(Map.of());
        assertThat(c.xdsEnabled()).isFalse();
        assertThat(c.localCa()).isTrue();
        assertThat(c.ports().admin()).isEqualTo(15000);
        assertThat(c.ports().stats()).isEqualTo(15020);
        assertThat(c.ports().readiness()).isEqualTo(15021);
        assertThat(c.proxyMode()).isEqualTo(Config.ProxyMode.SHARED);
        assertThat(c.clusterId()).isEqualTo("Kubernetes");
    }

    @Test
    void insideKubernetesXdsAndCaDefaultToIstiod() {
        Config c = from(Map.of("KUBERNETES_SERVICE_HOST", "10.96.0.1"));
        assertThat(c.xdsAddress()).isEqualTo("https://istiod.istio-system.svc:15012");
        assertThat(c.caAddress()).isEqualTo("https://istiod.istio-system.svc:15012");
        assertThat(c.localCa()).isFalse();
        assertThat(from(Map.of("KUBERNETES_SERVICE_HOST", "10.96.0.1", "LOCAL_CA_DIR", "/ca"))
                        .localCa())
                .isTrue();
    }

    @Test
    void unsupportedOnDemandXdsIsAcceptedWithAWarningWhenTheDnsProxyIsOff() {
        assertThat(from(Map.of()).warnings()).isEmpty();
        assertThat(from(Map.of("XDS_ON_DEMAND", "true", "ISTIO_META_DNS_CAPTURE", "false"))
                        .warnings())
                .singleElement()
                .satisfies(w -> assertThat(w).startsWith("XDS_ON_DEMAND=true is not supported"));
    }

    @Test
    void badValuesNameTheVariable() {
        assertThatThrownBy(() -> from(Map.of("PROXY_MODE", "sidecar")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("PROXY_MODE=sidecar");
        assertThatThrownBy(() -> from(Map.of("STATS_PORT", "70000")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("STATS_PORT");
        assertThatThrownBy(() -> from(Map.of("SECRET_TTL", "soon")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("SECRET_TTL");
        assertThatThrownBy(() -> from(Map.of("SECRET_TTL", "500ms")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("SECRET_TTL=500ms");
        assertThatThrownBy(() -> from(Map.of("PROXY_MODE", "dedicated")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("PROXY_WORKLOAD_INFO");
    }

    @Test
    void meshConfigFileDefaultConfigIsHonouredAndEnvironmentWins() throws IOException {
        Path mesh = dir.resolve("mesh");
        Files.writeString(mesh, """
                accessLogFile: /dev/stdout
                defaultConfig:
                  discoveryAddress: istiod.custom.svc:15012
                  proxyAdminPort: 15100
                  statsPort: 15120
                  concurrency: 3
                  tracing: {zipkin: {address: zipkin:9411}}
                  proxyMetadata:
                    DNS_CAPTURE: "true"
                    FROM_MESH: mesh
                """);
        Config c = Config.from(new Env(Map.of("ISTIO_META_FROM_MESH", "env")), mesh);
        assertThat(c.xdsAddress()).isEqualTo("https://istiod.custom.svc:15012");
        assertThat(c.ports().admin()).isEqualTo(15100);
        assertThat(c.ports().stats()).isEqualTo(15120);
        assertThat(c.workerThreads()).isEqualTo(3);
        assertThat(c.proxyMetadata()).containsEntry("DNS_CAPTURE", "true").containsEntry("FROM_MESH", "env");

        Config overridden = Config.from(
                new Env(Map.of(
                        "XDS_ADDRESS", "https://other:15012", "ADMIN_PORT", "15200", "ZTUNNEL_WORKER_THREADS", "1")),
                mesh);
        assertThat(overridden.xdsAddress()).isEqualTo("https://other:15012");
        assertThat(overridden.ports().admin()).isEqualTo(15200);
        assertThat(overridden.workerThreads()).isEqualTo(1);
        // discoveryAddress is the xDS address only; the CA address keeps its own default.
        assertThat(c.caAddress()).isEmpty();
    }

    @Test
    void proxyConfigVariableOverlaysTheMeshFile() throws IOException {
        Path mesh = dir.resolve("mesh");
        Files.writeString(mesh, """
                defaultConfig:
                  statsPort: 15120
                  proxyMetadata: {A: file, B: file}
                """);
        Map<String, String> vars = new HashMap<>();
        vars.put("PROXY_CONFIG", "{\"statsPort\": \"15130\", \"proxyMetadata\": {\"B\": \"env\", \"C\": 7}}");
        Config c = Config.from(new Env(vars), mesh);
        assertThat(c.ports().stats()).isEqualTo(15130);
        assertThat(c.proxyMetadata())
                .containsEntry("A", "file")
                .containsEntry("B", "env")
                .containsEntry("C", "7");
    }

    @Test
    void meshMetadataReachesTheXdsNodeAndEnvironmentMetadataWins() {
        Config c = from(Map.of(
                "PROXY_CONFIG",
                "proxyMetadata: {REGION: eu, CLUSTER_ID: from-mesh}",
                "ISTIO_META_REGION",
                "us",
                "POD_NAME",
                "ztunnel-a",
                "POD_NAMESPACE",
                "istio-system",
                "INSTANCE_IP",
                "10.0.0.5"));
        Map<String, Value> node =
                ControlPlane.nodeIdentity(c).toNode().getMetadata().getFieldsMap();
        assertThat(node.get("REGION").getStringValue()).isEqualTo("us");
        assertThat(node.get("CLUSTER_ID").getStringValue()).isEqualTo("from-mesh");
        assertThat(c.clusterId()).isEqualTo("from-mesh");
        assertThat(node.get("NAME").getStringValue()).isEqualTo("ztunnel-a");
    }

    @Test
    void brokenMeshConfigIsAnErrorNamingSourceAndField() throws IOException {
        assertThatThrownBy(() -> from(Map.of("PROXY_CONFIG", "statsPort: lots")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("PROXY_CONFIG.statsPort");
        assertThatThrownBy(() -> from(Map.of("PROXY_CONFIG", "concurrency: -1")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("PROXY_CONFIG.concurrency");
        assertThatThrownBy(() -> from(Map.of("PROXY_CONFIG", "proxyMetadata: [a, b]")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("PROXY_CONFIG.proxyMetadata");
        assertThatThrownBy(() -> from(Map.of("PROXY_CONFIG", "- just\n- a list")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("PROXY_CONFIG");
        Path mesh = dir.resolve("mesh");
        Files.writeString(mesh, "defaultConfig:\n  discoveryAddress: [1, 2]\n");
        assertThatThrownBy(() -> Config.from(new Env(Map.of()), mesh))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(mesh.toString())
                .hasMessageContaining("defaultConfig.discoveryAddress");
    }
}
