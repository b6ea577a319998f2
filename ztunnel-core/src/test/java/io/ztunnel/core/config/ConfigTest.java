package io.ztunnel.core.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Struct;
import io.ztunnel.core.control.ControlPlane;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
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
    void defaultsOutsideKubernetesAreUpstreamsLocalIstiodAndPorts() {
        Config c = from(Map.of());
        assertThat(c.xdsAddress()).isEqualTo("https://localhost:15012");
        assertThat(c.caAddress()).isEqualTo("https://localhost:15012");
        assertThat(c.xdsEnabled()).isTrue();
        assertThat(c.localCa()).isFalse();
        assertThat(c.ports().admin()).isEqualTo(15000);
        assertThat(c.ports().stats()).isEqualTo(15020);
        assertThat(c.ports().readiness()).isEqualTo(15021);
        assertThat(c.proxyMode()).isEqualTo(Config.ProxyMode.SHARED);
        assertThat(c.clusterId()).isEqualTo("Kubernetes");
    }

    /** The rest of the round-2 facts' variable table (section 10): upstream's defaults, and each variable read. */
    @Test
    void theRemainingVariablesHaveUpstreamsDefaultsAndAreRead() {
        Config c = from(Map.of());
        assertThat(c.clusterDomain()).isEqualTo("cluster.local");
        assertThat(c.network()).isEmpty();
        assertThat(c.nodeName()).isEmpty();
        assertThat(c.trustDomain()).isEqualTo("cluster.local");
        assertThat(c.packetMark()).isEqualTo(1337);
        assertThat(c.inpodUds()).isEqualTo("/var/run/ztunnel/ztunnel.sock");
        assertThat(c.inpodPortReuse()).isTrue();
        assertThat(c.hbone().poolMaxStreamsPerConnection()).isEqualTo(100);
        assertThat(c.hbone().poolIdleTimeout()).isEqualTo(Duration.ofMinutes(5));
        assertThat(c.hbone().streamWindow()).isEqualTo(4 << 20);
        assertThat(c.hbone().connectionWindow()).isEqualTo(16 << 20);
        assertThat(c.hbone().frameSize()).isEqualTo(1 << 20);
        assertThat(c.terminationDeadline()).isEqualTo(Duration.ofSeconds(5));
        assertThat(c.secretTtl()).isEqualTo(Duration.ofHours(24));
        assertThat(c.ipv6Enabled()).isTrue();
        assertThat(c.socks5Enabled()).isFalse();
        assertThat(c.responseBaggage()).isTrue();
        assertThat(c.authzPolicyInfoLogging()).isFalse();
        assertThat(c.preferredServiceNamespace()).isEmpty();
        assertThat(c.enableOriginalSource()).isNull();
        assertThat(c.upstream().proxyEnabled()).isTrue();
        assertThat(c.upstream().localhostAppTunnel()).isTrue();
        assertThat(c.xdsRootCa()).isEqualTo("./var/run/secrets/istio/root-cert.pem");
        assertThat(c.caRootCa()).isEqualTo("./var/run/secrets/istio/root-cert.pem");
        assertThat(c.authToken()).isEqualTo("./var/run/secrets/tokens/istio-token");
        assertThat(c.istioVersion()).isEqualTo("unknown");

        Map<String, String> vars = new HashMap<>();
        vars.put("CLUSTER_DOMAIN", "corp.example");
        vars.put("PACKET_MARK", "7");
        vars.put("INPOD_PORT_REUSE", "false");
        vars.put("POOL_MAX_STREAMS_PER_CONNECTION", "7");
        vars.put("POOL_UNUSED_RELEASE_TIMEOUT", "30s");
        vars.put("HTTP2_STREAM_WINDOW_SIZE", "1048576");
        vars.put("HTTP2_CONNECTION_WINDOW_SIZE", "2097152");
        vars.put("HTTP2_FRAME_SIZE", "65536");
        vars.put("AUTHZ_POLICY_INFO_LOGGING", "true");
        vars.put("PREFERED_SERVICE_NAMESPACE", "istio-system");
        vars.put("ALT_XDS_HOSTNAME", "istiod.example");
        vars.put("ALT_CA_HOSTNAME", "ca.example");
        vars.put("XDS_ADDRESS", "istiod.example:15012");
        Config set = from(vars);
        assertThat(set.clusterDomain()).isEqualTo("corp.example");
        assertThat(set.packetMark()).isEqualTo(7);
        assertThat(set.inpodPortReuse()).isFalse();
        assertThat(set.hbone().poolMaxStreamsPerConnection()).isEqualTo(7);
        assertThat(set.hbone().poolIdleTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(set.hbone().streamWindow()).isEqualTo(1 << 20);
        assertThat(set.hbone().connectionWindow()).isEqualTo(2 << 20);
        assertThat(set.hbone().frameSize()).isEqualTo(65536);
        assertThat(set.authzPolicyInfoLogging()).isTrue();
        assertThat(set.preferredServiceNamespace()).isEqualTo("istio-system");
        assertThat(set.altXdsHostname()).isEqualTo("istiod.example");
        assertThat(set.altCaHostname()).isEqualTo("ca.example");
        // A scheme-less address gets https:// as upstream adds it.
        assertThat(set.xdsAddress()).isEqualTo("https://istiod.example:15012");

        // The packet mark is shared mode's: unset (0) in dedicated mode.
        assertThat(from(Map.of("PROXY_MODE", "dedicated", "PROXY_WORKLOAD_INFO", "ns/name/sa"))
                        .packetMark())
                .isZero();
    }

    @Test
    void theDrainDeadlineFollowsTheGracePeriodWhenNotSetItself() {
        assertThat(from(Map.of("TERMINATION_GRACE_PERIOD_SECONDS", "30")).terminationDeadline())
                .isEqualTo(Duration.ofSeconds(25));
        assertThat(from(Map.of("TERMINATION_GRACE_PERIOD_SECONDS", "10")).terminationDeadline())
                .isEqualTo(Duration.ofSeconds(9));
        assertThat(from(Map.of("TERMINATION_GRACE_PERIOD_SECONDS", "1")).terminationDeadline())
                .isEqualTo(Duration.ofSeconds(1));
        assertThat(from(Map.of("TERMINATION_GRACE_PERIOD_SECONDS", "30", "CONNECTION_TERMINATION_DEADLINE", "2s"))
                        .terminationDeadline())
                .isEqualTo(Duration.ofSeconds(2));
    }

    @Test
    void emptyAddressesSelectTheEmbeddedLocalConfigAndCa() {
        Config c = from(Map.of("XDS_ADDRESS", "", "CA_ADDRESS", ""));
        assertThat(c.xdsEnabled()).isFalse();
        assertThat(c.localCa()).isTrue();
        assertThat(from(Map.of("FAKE_CA", "true")).localCa()).isTrue();
        assertThat(from(Map.of("FAKE_CA", "true")).upstream().fakeCa()).isTrue();
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
    void onDemandXdsIsOffByDefaultAndOnWithTheDnsProxyOffWithoutAWarning() {
        assertThat(from(Map.of()).upstream().xdsOnDemand()).isFalse();
        Config onDemand = from(Map.of("XDS_ON_DEMAND", "true", "ISTIO_META_DNS_CAPTURE", "false"));
        assertThat(onDemand.upstream().xdsOnDemand()).isTrue();
        assertThat(onDemand.warnings()).isEmpty();
        assertThat(from(Map.of("XDS_ON_DEMAND", "false")).upstream().xdsOnDemand())
                .isFalse();
        assertThatThrownBy(() -> from(Map.of("XDS_ON_DEMAND", "yes", "ISTIO_META_DNS_CAPTURE", "false")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("XDS_ON_DEMAND");
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
        assertThat(c.caAddress()).isEqualTo("https://localhost:15012");
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
        Struct node = ControlPlane.nodeIdentity(c).toNode().getMetadata();
        assertThat(node.getFieldsOrThrow("REGION").getStringValue()).isEqualTo("us");
        assertThat(node.getFieldsOrThrow("CLUSTER_ID").getStringValue()).isEqualTo("from-mesh");
        // As upstream, the cluster id comes from ISTIO_META_CLUSTER_ID or CLUSTER_ID only.
        assertThat(c.clusterId()).isEqualTo("Kubernetes");
        assertThat(from(Map.of("CLUSTER_ID", "c1")).clusterId()).isEqualTo("c1");
        assertThat(from(Map.of("CLUSTER_ID", "c1", "ISTIO_META_CLUSTER_ID", "c2"))
                        .clusterId())
                .isEqualTo("c2");
        assertThat(node.getFieldsOrThrow("NAME").getStringValue()).isEqualTo("ztunnel-a");
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

    @Test
    void booleansAreExactlyTrueOrFalseAndAnythingElseNamesTheVariable() {
        assertThat(from(Map.of("ENABLE_PROXY", "true")).upstream().proxyEnabled())
                .isTrue();
        for (String bad : new String[] {"1", "TRUE", "yes", "", " true"}) {
            assertThatThrownBy(() -> from(Map.of("ENABLE_PROXY", bad)))
                    .isInstanceOf(ConfigException.class)
                    .hasMessage("ENABLE_PROXY=" + bad + ": expected true or false");
        }
        assertThatThrownBy(() -> from(Map.of("KEEPALIVE_ENABLED", "")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("KEEPALIVE_ENABLED=");
        assertThatThrownBy(() -> from(Map.of("ENABLE_ORIG_SRC", "")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("ENABLE_ORIG_SRC=");
        assertThat(from(Map.of()).enableOriginalSource()).isNull();
    }

    @Test
    void disablingTheProxyWithTheDnsProxyOffIsAnError() {
        assertThat(from(Map.of("ENABLE_PROXY", "false")).upstream().proxyEnabled())
                .isFalse();
        assertThatThrownBy(() -> from(Map.of("ENABLE_PROXY", "false", "ISTIO_META_DNS_CAPTURE", "false")))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("ztunnel run without any servers enabled");
    }

    @Test
    void keepaliveAndUserTimeoutHaveUpstreamsDefaultsAndVariables() {
        Config.SocketConfig d = from(Map.of()).socketConfig();
        assertThat(d).isEqualTo(Config.SocketConfig.DEFAULT);
        assertThat(d.keepaliveTime()).hasSeconds(180);
        assertThat(d.keepaliveInterval()).hasSeconds(180);
        assertThat(d.keepaliveRetries()).isEqualTo(9);
        assertThat(d.userTimeout()).hasMillis(1_800_000);
        Config.SocketConfig c = from(Map.of(
                        "KEEPALIVE_TIME", "60s",
                        "KEEPALIVE_INTERVAL", "10s",
                        "KEEPALIVE_RETRIES", "3",
                        "USER_TIMEOUT_ENABLED", "true"))
                .socketConfig();
        assertThat(c).isEqualTo(new Config.SocketConfig(true, Duration.ofSeconds(60), Duration.ofSeconds(10), 3, true));
        assertThat(c.userTimeout()).hasSeconds(90);
        assertThatThrownBy(() -> from(Map.of("KEEPALIVE_RETRIES", "many")))
                .hasMessageContaining("KEEPALIVE_RETRIES=many");
        assertThatThrownBy(() -> from(Map.of("KEEPALIVE_TIME", "500ms"))).hasMessageContaining("KEEPALIVE_TIME=500ms");
    }

    @Test
    void crlPathIsOnlySetByANonEmptyValue() {
        assertThat(from(Map.of()).crlPath()).isNull();
        assertThat(from(Map.of("CRL_PATH", "")).crlPath()).isNull();
        assertThat(from(Map.of("CRL_PATH", "/var/run/secrets/istio/crl/ca-crl.pem"))
                        .crlPath())
                .isEqualTo("/var/run/secrets/istio/crl/ca-crl.pem");
    }

    @Test
    void workerThreadsFollowUpstreamsRules() {
        assertThat(from(Map.of("ZTUNNEL_CPU_LIMIT", "8", "ZTUNNEL_WORKER_THREADS", "50%"))
                        .workerThreads())
                .isEqualTo(4);
        assertThat(from(Map.of("ZTUNNEL_CPU_LIMIT", "8", "ZTUNNEL_WORKER_THREADS", "12.5%"))
                        .workerThreads())
                .isEqualTo(1);
        assertThat(from(Map.of("ZTUNNEL_CPU_LIMIT", "8", "ZTUNNEL_WORKER_THREADS", "0"))
                        .workerThreads())
                .isEqualTo(8);
        assertThat(from(Map.of("ZTUNNEL_CPU_LIMIT", "16")).workerThreads()).isEqualTo(4);
        assertThat(from(Map.of("ZTUNNEL_CPU_LIMIT", "4")).workerThreads()).isEqualTo(2);
        assertThat(from(Map.of("ZTUNNEL_CPU_LIMIT", "6", "PROXY_CONFIG", "concurrency: 0"))
                        .workerThreads())
                .isEqualTo(6);
        assertThat(from(Map.of("ZTUNNEL_CPU_LIMIT", "6", "PROXY_CONFIG", "concurrency: 3"))
                        .workerThreads())
                .isEqualTo(3);
        assertThat(from(Map.of("ZTUNNEL_RESOURCE_CPU_LIMIT", "1500m", "ZTUNNEL_RESOURCE_CPU_REQUEST", "500m"))
                        .workerThreads())
                .isEqualTo(2);
        assertThatThrownBy(() -> from(Map.of("ZTUNNEL_CPU_LIMIT", "lots")))
                .hasMessageContaining("ZTUNNEL_CPU_LIMIT=lots");
    }

    @Test
    void proxyMetadataKeysLoseTheirIstioMetaPrefixAndLaterSourcesWin() throws IOException {
        Path mesh = dir.resolve("mesh");
        Files.writeString(mesh, """
                defaultConfig:
                  proxyMetadata: {ISTIO_META_FOO: mesh, ISTIO_META_BAR: mesh, PLAIN: mesh}
                """);
        Config c = Config.from(
                new Env(Map.of("PROXY_CONFIG", "proxyMetadata: {ISTIO_META_FOO: x}", "ISTIO_META_PLAIN", "env")), mesh);
        assertThat(c.proxyMetadata())
                .containsEntry("FOO", "x")
                .containsEntry("BAR", "mesh")
                .containsEntry("PLAIN", "env")
                .doesNotContainKeys("ISTIO_META_FOO", "ISTIO_META_BAR");
        Struct node = ControlPlane.nodeIdentity(c).toNode().getMetadata();
        assertThat(node.getFieldsOrThrow("FOO").getStringValue()).isEqualTo("x");
    }

    @Test
    void proxyModeIsExactlySharedOrDedicatedAndTheWorkloadIsReadInDedicatedModeOnly() {
        assertThatThrownBy(() -> from(Map.of("PROXY_MODE", ""))).hasMessageContaining("PROXY_MODE=");
        assertThatThrownBy(() -> from(Map.of("PROXY_MODE", "Shared"))).hasMessageContaining("PROXY_MODE=Shared");
        assertThat(from(Map.of("PROXY_WORKLOAD_INFO", "not valid")).proxyWorkloadInfo())
                .isNull();
        Config dedicated = from(Map.of("PROXY_MODE", "dedicated", "PROXY_WORKLOAD_INFO", "ns/name/sa/with/slash"));
        assertThat(dedicated.proxyWorkloadInfo())
                .isEqualTo(new Config.LocalWorkloadInfo("ns", "name", "sa/with/slash"));
    }
}
