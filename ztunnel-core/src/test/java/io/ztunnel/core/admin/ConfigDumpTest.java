package io.ztunnel.core.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.Env;
import io.ztunnel.core.control.LocalConfigSource;
import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.identity.LocalCa;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.TestPki;
import io.ztunnel.core.identity.WorkloadCertificate;
import io.ztunnel.core.proxy.ConnectionRecord;
import io.ztunnel.core.proxy.ConnectionTelemetry;
import io.ztunnel.core.proxy.ConnectionTracker;
import io.ztunnel.core.proxy.Direction;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Workload;
import io.ztunnel.xds.local.LocalConfigParser;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code /config_dump} compared field by field with upstream ztunnel's shape, and read by an independent client (Go's
 * {@code encoding/json} with types written from istioctl's, {@link ConfigDumpClient}).
 */
class ConfigDumpTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A mesh with an IPv6 pod, a waypoint, an app tunnel, a staged service and two policies. */
    static final String MESH = """
            workloads:
            - uid: Kubernetes//Pod/default/client-7c9
              name: client-7c9
              namespace: default
              serviceAccount: client
              workloadIps: ["10.244.2.7"]
              protocol: HBONE
              node: node-a
              workloadName: client
              canonicalName: client
              canonicalRevision: v1
              services: {}
            - uid: Kubernetes//Pod/default/echo-5d8c7
              name: echo-5d8c7
              namespace: default
              serviceAccount: echo
              workloadIps: ["10.244.1.5", "fd00:0:0:0:0:0:0:5"]
              protocol: HBONE
              node: node-b
              workloadName: echo
              waypoint: {destination: "default/waypoint.default.svc.cluster.local", hboneMtlsPort: 15008}
              applicationTunnel: {protocol: PROXY}
              services:
                "default/echo.default.svc.cluster.local": {80: 8080, 443: 8443}
                "default/missing.default.svc.cluster.local": {80: 8080}
            services:
            - name: echo
              namespace: default
              hostname: echo.default.svc.cluster.local
              vips: ["/10.96.0.10", "/fd00:0:0:0:0:0:96:10"]
              ports: {80: 8080, 443: 8443}
            - name: waypoint
              namespace: default
              hostname: waypoint.default.svc.cluster.local
              vips: ["/10.96.0.20"]
              ports: {15008: 15008}
            policies:
            - name: allow-client
              namespace: default
              scope: Namespace
              action: Allow
              dryRun: false
              rules: [[[{principals: [{Exact: "cluster.local/ns/default/sa/client"}], sourceIps: ["fd00:0:0:0:0:0:0:0/8"], destinationPorts: [8080]}]]]
            - name: deny-all
              namespace: istio-system
              scope: Global
              action: Deny
              dryRun: true
              rules: []
            """;

    @TempDir
    static Path dir;

    private static LocalCa ca;
    private static final Instant NOW = Instant.parse("2023-03-11T05:57:26.123Z");

    @BeforeAll
    static void makeCa() {
        ca = LocalCa.loadOrCreate(dir.resolve("ca"), Clock.fixed(NOW, ZoneOffset.UTC));
    }

    private static ProxyState mesh() throws Exception {
        return LocalConfigSource.toState(LocalConfigParser.parseInline(MESH));
    }

    private static Config config(Map<String, String> vars) {
        return Config.from(new Env(vars), dir.resolve("no-mesh-file"));
    }

    private static List<CertificateManager.Status> certificates() {
        SpiffeId client = SpiffeId.parse("spiffe://cluster.local/ns/default/sa/client");
        SpiffeId echo = SpiffeId.parse("spiffe://cluster.local/ns/default/sa/echo");
        SpiffeId pending = SpiffeId.parse("spiffe://cluster.local/ns/default/sa/pending");
        WorkloadCertificate cert = TestPki.issue(ca, client, Duration.ofHours(7));
        return List.of(
                new CertificateManager.Status(echo, CertificateManager.State.UNAVAILABLE, "CA unreachable", null),
                new CertificateManager.Status(client, CertificateManager.State.AVAILABLE, null, cert),
                new CertificateManager.Status(pending, CertificateManager.State.INITIALIZING, null, null));
    }

    private static InetSocketAddress addr(String ip, int port) throws Exception {
        return new InetSocketAddress(InetAddress.getByName(ip), port);
    }

    /** A shared-mode dump: the client pod Up with one outbound HBONE connection, an echo pod still Pending. */
    private static Map<String, Object> sharedDump() throws Exception {
        ProxyState state = mesh();
        Map<String, Object> dump = new LinkedHashMap<>(ConfigDump.state(state));
        dump.put("staticConfig", ConfigDump.staticConfig(state));
        dump.put("certificates", ConfigDump.certificates(certificates()));
        dump.put("version", ConfigDump.version("1.2.3", "unknown", "unknown", "1.27.0"));
        dump.put("config", ConfigDump.config(config(Map.of("XDS_ADDRESS", "", "CA_ADDRESS", "")), "local CA"));
        Map<String, Map<String, Object>> pods = new LinkedHashMap<>();
        pods.put(
                "Kubernetes//Pod/default/client-7c9",
                Map.of(
                        "state",
                        "Up",
                        "info",
                        Map.of("name", "client-7c9", "namespace", "default", "serviceAccount", "client")));
        pods.put(
                "Kubernetes//Pod/default/echo-5d8c7",
                Map.of(
                        "state",
                        "Pending",
                        "info",
                        Map.of("name", "echo-5d8c7", "namespace", "default", "serviceAccount", "echo")));
        Workload client = Objects.requireNonNull(state.workload("Kubernetes//Pod/default/client-7c9"));
        Workload echo = Objects.requireNonNull(state.workload("Kubernetes//Pod/default/echo-5d8c7"));
        ConnectionTracker tracker = new ConnectionTracker();
        ConnectionRecord outbound = ConnectionRecord.builder(Direction.OUTBOUND, "default/client-7c9/client")
                .source(addr("10.244.2.7", 45678), client, client.identity())
                .destination(
                        addr("10.244.1.5", 15008),
                        echo,
                        state.service("default/echo.default.svc.cluster.local"),
                        echo.identity())
                .originalDestination(addr("10.96.0.10", 80))
                .hboneTarget("10.244.1.5:8080")
                .open(tracker, ConnectionTelemetry.NONE);
        outbound.established(() -> {});
        ConnectionRecord inboundTwice = ConnectionRecord.builder(Direction.INBOUND, "default/client-7c9/client")
                .source(addr("fd00::9", 40000), echo, echo.identity())
                .destination(addr("10.244.2.7", 15008), client, null, client.identity())
                .hboneTarget("10.244.2.7:9090")
                .open(tracker, ConnectionTelemetry.NONE);
        inboundTwice.established(() -> {});
        ConnectionRecord sameAgain = ConnectionRecord.builder(Direction.INBOUND, "default/client-7c9/client")
                .source(addr("fd00::9", 40000), echo, echo.identity())
                .destination(addr("10.244.2.7", 15008), client, null, client.identity())
                .hboneTarget("10.244.2.7:9090")
                .open(tracker, ConnectionTelemetry.NONE);
        sameAgain.established(() -> {});
        // Through a waypoint, which names the service the client addressed in its Forwarded header.
        ConnectionRecord viaWaypoint = ConnectionRecord.builder(Direction.INBOUND, "default/client-7c9/client")
                .source(addr("10.244.3.3", 50000), null, echo.identity())
                .destination(addr("10.244.2.7", 15008), client, null, client.identity())
                .hboneTarget("10.244.2.7:9090")
                .forwardedHost("client.default.svc.cluster.local")
                .open(tracker, ConnectionTelemetry.NONE);
        viaWaypoint.established(() -> {});
        dump.put("workloadState", ConfigDump.workloadState(pods, tracker.snapshot()));
        return dump;
    }

    private static List<String> keys(JsonNode node) {
        List<String> keys = new ArrayList<>();
        node.fieldNames().forEachRemaining(keys::add);
        return keys;
    }

    @Test
    void topLevelKeysAreUpstreamsInAlphabeticalOrder() throws Exception {
        JsonNode dump = JSON.readTree(ConfigDump.toJson(sharedDump()));
        assertThat(keys(dump))
                .containsExactly(
                        "certificates",
                        "config",
                        "policies",
                        "services",
                        "stagedServices",
                        "staticConfig",
                        "version",
                        "workloadState",
                        "workloads");
    }

    @Test
    void theLayoutIsSerdesPrettyPrintWithSortedKeysAndNoTrailingNewline() {
        Map<String, Object> value = new LinkedHashMap<>();
        value.put("b", List.of(1, "x"));
        value.put("a", Map.of());
        value.put("c", List.of());
        value.put("d", Map.of("z", true, "y", Map.of("k", "q\"\\\n")));
        value.put("e", null);
        assertThat(ConfigDump.toJson(value)).isEqualTo("""
                        {
                          "a": {},
                          "b": [
                            1,
                            "x"
                          ],
                          "c": [],
                          "d": {
                            "y": {
                              "k": "q\\"\\\\\\n"
                            },
                            "z": true
                          },
                          "e": null
                        }""");
    }

    @Test
    void aWorkloadLeavesOutEmptyOptionalFieldsAndCompressesIpv6() throws Exception {
        Workload w = Workload.builder("u1")
                .name("a")
                .namespace("ns")
                .addresses(List.of(InetAddress.getByName("fd00:0:0:0:0:0:0:5")))
                .build();
        assertThat(ConfigDump.toJson(ConfigDump.workload(w, false))).isEqualTo("""
                        {
                          "capacity": 1,
                          "clusterId": "Kubernetes",
                          "name": "a",
                          "namespace": "ns",
                          "networkMode": "Standard",
                          "protocol": "TCP",
                          "serviceAccount": "default",
                          "status": "Healthy",
                          "trustDomain": "cluster.local",
                          "uid": "u1",
                          "workloadIps": [
                            "fd00::5"
                          ],
                          "workloadType": "deployment"
                        }""");
    }

    @Test
    void workloadsNameTheirServicesAndServicesListTheirEndpoints() throws Exception {
        JsonNode dump = JSON.readTree(ConfigDump.toJson(sharedDump()));
        JsonNode echo = dump.get("workloads").get(1);
        assertThat(echo.get("uid").asText()).isEqualTo("Kubernetes//Pod/default/echo-5d8c7");
        assertThat(echo.get("applicationTunnel").toString()).isEqualTo("{\"port\":null,\"protocol\":\"PROXY\"}");
        assertThat(echo.get("services").toString())
                .isEqualTo(
                        "[\"default/echo.default.svc.cluster.local\",\"default/missing.default.svc.cluster.local\"]");
        assertThat(echo.get("workloadIps").toString()).isEqualTo("[\"10.244.1.5\",\"fd00::5\"]");
        assertThat(echo.get("waypoint").toString())
                .isEqualTo("{\"destination\":\"default/waypoint.default.svc.cluster.local\",\"hboneMtlsPort\":15008}");
        assertThat(echo.has("nativeTunnel")).isFalse();
        assertThat(echo.has("authorizationPolicies")).isFalse();
        assertThat(echo.has("network")).isFalse();

        JsonNode service = dump.get("services").get(0);
        assertThat(service.get("hostname").asText()).isEqualTo("echo.default.svc.cluster.local");
        assertThat(service.get("vips").toString()).isEqualTo("[\"/10.96.0.10\",\"/fd00::96:10\"]");
        assertThat(service.get("ports").toString()).isEqualTo("{\"443\":8443,\"80\":8080}");
        assertThat(service.get("endpoints").toString())
                .isEqualTo("{\"Kubernetes//Pod/default/echo-5d8c7\":{\"port\":{\"443\":8443,\"80\":8080},"
                        + "\"status\":\"Healthy\",\"workloadUid\":\"Kubernetes//Pod/default/echo-5d8c7\"}}");
        assertThat(keys(service))
                .containsExactly(
                        "endpoints", "hostname", "name", "namespace", "ports", "subjectAltNames", "vips", "visibility");

        JsonNode policy = dump.get("policies").get(0);
        assertThat(keys(policy)).containsExactly("action", "dryRun", "name", "namespace", "rules", "scope");
        assertThat(policy.get("rules").toString())
                .isEqualTo(
                        "[[[{\"destinationPorts\":[8080],\"principals\":[{\"Exact\":\"cluster.local/ns/default/sa/client\"}],"
                                + "\"sourceIps\":[\"fd00::/8\"]}]]]");
    }

    @Test
    void stagedServicesHoldTheEndpointsOfServicesNotYetKnown() throws Exception {
        JsonNode dump = JSON.readTree(ConfigDump.toJson(sharedDump()));
        assertThat(dump.get("stagedServices").toString())
                .isEqualTo(
                        "{\"default/missing.default.svc.cluster.local\":{\"Kubernetes//Pod/default/echo-5d8c7\":"
                                + "{\"port\":{\"80\":8080},\"status\":\"Healthy\",\"workloadUid\":\"Kubernetes//Pod/default/echo-5d8c7\"}}}");
        assertThat(JSON.readTree(ConfigDump.toJson(ConfigDump.state(ProxyState.EMPTY)))
                        .get("stagedServices")
                        .toString())
                .isEqualTo("{}");
    }

    @Test
    void staticConfigIsTheLocalConfigInItsOwnSchema() throws Exception {
        JsonNode dump = JSON.readTree(ConfigDump.toJson(sharedDump()));
        JsonNode staticConfig = dump.get("staticConfig");
        assertThat(keys(staticConfig)).containsExactly("policies", "services", "workloads");
        assertThat(staticConfig.get("workloads").get(1).get("services").toString())
                .isEqualTo("{\"default/echo.default.svc.cluster.local\":{\"443\":8443,\"80\":8080},"
                        + "\"default/missing.default.svc.cluster.local\":{\"80\":8080}}");
        assertThat(staticConfig.get("services").get(0).has("endpoints")).isFalse();
        ProxyState reloaded = LocalConfigSource.toState(LocalConfigParser.parseInline(staticConfig.toString()));
        assertThat(reloaded.workloads()).isEqualTo(mesh().workloads());
        assertThat(ConfigDump.toJson(ConfigDump.staticConfig(ProxyState.EMPTY)))
                .isEqualTo("{\n  \"policies\": [],\n  \"services\": [],\n  \"workloads\": []\n}");
    }

    @Test
    void certificatesHaveDecimalSerialsSecondTimesAndBase64Pem() throws Exception {
        JsonNode certs = JSON.readTree(ConfigDump.toJson(sharedDump())).get("certificates");
        assertThat(certs.findValuesAsText("identity"))
                .containsExactly(
                        "spiffe://cluster.local/ns/default/sa/client",
                        "spiffe://cluster.local/ns/default/sa/echo",
                        "spiffe://cluster.local/ns/default/sa/pending");
        JsonNode available = certs.get(0);
        assertThat(available.get("state").asText()).isEqualTo("Available");
        JsonNode leaf = available.get("certChain").get(0);
        assertThat(keys(leaf)).containsExactly("expirationTime", "pem", "serialNumber", "validFrom");
        assertThat(leaf.get("serialNumber").asText()).matches("^[0-9]+$");
        assertThat(leaf.get("validFrom").asText()).matches("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$");
        assertThat(leaf.get("expirationTime").asText()).matches("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$");
        assertThat(new String(Base64.getDecoder().decode(leaf.get("pem").asText()), StandardCharsets.US_ASCII))
                .startsWith("-----BEGIN CERTIFICATE-----\n");
        assertThat(available.get("rootCerts")).isNotEmpty();
        assertThat(certs.get(1).get("state").asText()).isEqualTo("Unavailable: CA unreachable");
        assertThat(certs.get(2).get("state").asText()).isEqualTo("Initializing");
        for (JsonNode notAvailable : List.of(certs.get(1), certs.get(2))) {
            assertThat(notAvailable.get("certChain")).isEmpty();
            assertThat(notAvailable.get("rootCerts")).isEmpty();
        }
    }

    @Test
    void aSerialNumberIsWrittenInDecimal() throws Exception {
        var cert = TestPki.root("CN=serial test", TestPki.rsa()).certificate();
        assertThat(ConfigDump.certificate(cert).get("serialNumber"))
                .isEqualTo(cert.getSerialNumber().toString(10));
    }

    @Test
    void versionHasUpstreamsKeys() throws Exception {
        JsonNode version = JSON.readTree(ConfigDump.toJson(sharedDump())).get("version");
        assertThat(keys(version))
                .containsExactly(
                        "buildProfile",
                        "buildStatus",
                        "cryptoProvider",
                        "gitRevision",
                        "istioVersion",
                        "javaVersion",
                        "rustVersion",
                        "version");
        assertThat(version.get("istioVersion").asText()).isEqualTo("1.27.0");
        assertThat(version.get("rustVersion").asText()).isEmpty();
    }

    @Test
    void configUsesUpstreamsKeysAndEncodings() throws Exception {
        JsonNode config = JSON.readTree(ConfigDump.toJson(
                ConfigDump.config(config(Map.of("PROXY_MODE", "dedicated", "PROXY_WORKLOAD_INFO", "ns/a/sa")), "x")));
        assertThat(config.get("socketConfig").get("keepaliveTime").toString()).isEqualTo("{\"nanos\":0,\"secs\":180}");
        assertThat(config.get("socketConfig").toString())
                .isEqualTo("{\"keepaliveEnabled\":true,\"keepaliveInterval\":{\"nanos\":0,\"secs\":180},"
                        + "\"keepaliveRetries\":9,\"keepaliveTime\":{\"nanos\":0,\"secs\":180},"
                        + "\"userTimeoutEnabled\":false}");
        assertThat(config.get("proxyMode").asText()).isEqualTo("Dedicated");
        assertThat(config.get("adminAddr").toString()).isEqualTo("{\"Localhost\":[true,15000]}");
        assertThat(config.get("statsAddr").toString()).isEqualTo("{\"SocketAddr\":\"[::]:15020\"}");
        assertThat(config.get("readinessAddr").toString()).isEqualTo("{\"SocketAddr\":\"[::]:15021\"}");
        assertThat(config.get("inboundAddr").asText()).isEqualTo("[::]:15008");
        assertThat(config.get("secretTtl").toString()).isEqualTo("{\"nanos\":0,\"secs\":86400}");
        assertThat(config.get("illegalPorts").toString()).isEqualTo("[15001,15006,15008]");
        assertThat(config.get("xdsAddress").asText()).isEqualTo("https://localhost:15012");
        assertThat(config.get("caRootCert").toString())
                .isEqualTo("{\"File\":\"./var/run/secrets/istio/root-cert.pem\"}");
        assertThat(config.get("proxyWorkloadInformation").toString())
                .isEqualTo("{\"name\":\"a\",\"namespace\":\"ns\",\"serviceAccount\":\"sa\"}");
        assertThat(config.get("packetMark").isNull()).isTrue();
        assertThat(config.get("localNode").isNull()).isTrue();
        assertThat(config.has("auth")).isFalse();
        assertThat(config.has("localXdsConfig")).isFalse();
        JsonNode shared = JSON.readTree(ConfigDump.toJson(ConfigDump.config(
                config(Map.of("XDS_ADDRESS", "", "CA_ADDRESS", "", "XDS_HEADER_X_TEST", "v")), "local")));
        assertThat(shared.get("proxyMode").asText()).isEqualTo("Shared");
        assertThat(shared.get("packetMark").asInt()).isEqualTo(1337);
        assertThat(shared.get("xdsAddress").isNull()).isTrue();
        assertThat(shared.get("caAddress").isNull()).isTrue();
        assertThat(shared.get("xdsHeaders").toString()).isEqualTo("[[\"x_test\",\"v\"]]");
    }

    @Test
    void dnsResolverCfgAndOptsHaveTheResolverLibrarysShapeWithWhatTheDaemonRead() throws Exception {
        ConfigDump.DnsResolver read = new ConfigDump.DnsResolver(
                "example.org",
                List.of("ns1.svc.cluster.local", "svc.cluster.local"),
                List.of(
                        new InetSocketAddress(InetAddress.ofLiteral("10.96.0.10"), 53),
                        new InetSocketAddress(InetAddress.ofLiteral("fd00::a"), 53)),
                Duration.ofSeconds(3),
                4,
                5,
                true,
                true);
        JsonNode config = JSON.readTree(ConfigDump.toJson(ConfigDump.config(
                config(Map.of("XDS_ADDRESS", "", "CA_ADDRESS", "", "IPV6_ENABLED", "false")), "x", read)));
        // Keys sorted as serde_json::Value writes them; the library's own (snake_case) names inside.
        assertThat(config.get("dnsResolverCfg").toString())
                .isEqualTo("{\"domain\":\"example.org\",\"name_servers\":["
                        + server("10.96.0.10:53", "udp") + "," + server("10.96.0.10:53", "tcp") + ","
                        + server("[fd00::a]:53", "udp") + "," + server("[fd00::a]:53", "tcp") + "],"
                        + "\"search\":[\"ns1.svc.cluster.local\",\"svc.cluster.local\"]}");
        JsonNode opts = config.get("dnsResolverOpts");
        assertThat(keys(opts))
                .containsExactly(
                        "attempts",
                        "avoid_local_udp_ports",
                        "cache_size",
                        "case_randomization",
                        "check_names",
                        "edns0",
                        "ip_strategy",
                        "ndots",
                        "negative_max_ttl",
                        "negative_min_ttl",
                        "num_concurrent_reqs",
                        "os_port_selection",
                        "positive_max_ttl",
                        "positive_min_ttl",
                        "preserve_intermediates",
                        "recursion_desired",
                        "rotate",
                        "server_ordering_strategy",
                        "timeout",
                        "try_tcp_on_error",
                        "use_hosts_file",
                        "validate");
        assertThat(opts.get("ndots").asInt()).isEqualTo(5);
        assertThat(opts.get("timeout").toString()).isEqualTo("{\"nanos\":0,\"secs\":3}");
        assertThat(opts.get("attempts").asInt()).isEqualTo(4);
        assertThat(opts.get("edns0").asBoolean()).isTrue();
        assertThat(opts.get("rotate").asBoolean()).isTrue();
        assertThat(opts.get("ip_strategy").asText()).isEqualTo("Ipv4Only"); // IPV6_ENABLED=false, as upstream sets
        // What the forwarder does where the resolver library differs: no cache, one server at a time, in order.
        assertThat(opts.get("cache_size").asInt()).isZero();
        assertThat(opts.get("num_concurrent_reqs").asInt()).isEqualTo(1);
        assertThat(opts.get("server_ordering_strategy").asText()).isEqualTo("UserProvidedOrder");
        assertThat(opts.get("positive_min_ttl").isNull()).isTrue();

        // Nothing read (the DNS proxy off): no servers and the defaults, never null.
        JsonNode none = JSON.readTree(
                ConfigDump.toJson(ConfigDump.config(config(Map.of("XDS_ADDRESS", "", "CA_ADDRESS", "")), "x")));
        assertThat(none.get("dnsResolverCfg").toString())
                .isEqualTo("{\"domain\":null,\"name_servers\":[],\"search\":[]}");
        assertThat(none.get("dnsResolverOpts").get("ndots").asInt()).isEqualTo(1);
        assertThat(none.get("dnsResolverOpts").get("ip_strategy").asText()).isEqualTo("Ipv4AndIpv6");
    }

    private static String server(String address, String protocol) {
        return "{\"bind_addr\":null,\"http_endpoint\":null,\"protocol\":\"" + protocol + "\",\"socket_addr\":\""
                + address + "\",\"tls_dns_name\":null,\"trust_negative_responses\":false}";
    }

    @Test
    void workloadStateListsEachUpPodsConnections() throws Exception {
        JsonNode state = JSON.readTree(ConfigDump.toJson(sharedDump())).get("workloadState");
        assertThat(keys(state))
                .containsExactly("Kubernetes//Pod/default/client-7c9", "Kubernetes//Pod/default/echo-5d8c7");
        JsonNode up = state.get("Kubernetes//Pod/default/client-7c9");
        assertThat(keys(up)).containsExactly("connections", "info", "state");
        assertThat(up.get("connections").get("outbound").toString())
                .isEqualTo("[{\"actualDst\":\"10.244.1.5:15008\",\"originalDst\":\"10.96.0.10:80\","
                        + "\"protocol\":\"HBONE\",\"src\":\"10.244.2.7:45678\"}]");
        // Two identical inbound connections are one entry; originalDst is the Forwarded host= a waypoint sent.
        assertThat(up.get("connections").get("inbound").toString())
                .isEqualTo("[{\"actualDst\":\"10.244.2.7:9090\",\"originalDst\":null,\"protocol\":\"HBONE\","
                        + "\"src\":\"[fd00::9]:40000\"},"
                        + "{\"actualDst\":\"10.244.2.7:9090\",\"originalDst\":\"client.default.svc.cluster.local\","
                        + "\"protocol\":\"HBONE\",\"src\":\"10.244.3.3:50000\"}]");
        assertThat(up.get("info").toString())
                .isEqualTo("{\"name\":\"client-7c9\",\"namespace\":\"default\",\"serviceAccount\":\"client\"}");
        JsonNode pending = state.get("Kubernetes//Pod/default/echo-5d8c7");
        assertThat(pending.get("state").asText()).isEqualTo("Pending");
        assertThat(pending.has("connections")).isFalse();
    }

    @Test
    void anIndependentClientReadsWorkloadsServicesPoliciesCertificatesAndConnections() throws Exception {
        JsonNode read = ConfigDumpClient.check(ConfigDump.toJson(sharedDump()));
        assertThat(read.get("workloads").asInt()).isEqualTo(2);
        assertThat(read.get("services").asInt()).isEqualTo(2);
        assertThat(read.get("policies").asInt()).isEqualTo(2);
        assertThat(read.get("certificates").asInt()).isEqualTo(3);
        assertThat(read.get("certs").asInt()).isGreaterThanOrEqualTo(2);
        assertThat(read.get("endpoints").asInt()).isEqualTo(1);
        assertThat(read.get("pods").asInt()).isEqualTo(2);
        assertThat(read.get("outbound").asInt()).isEqualTo(1);
        assertThat(read.get("inbound").asInt()).isEqualTo(2);
    }

    @Test
    void theIndependentClientRefusesADumpIstioctlCouldNotRead() throws Exception {
        Map<String, Object> dump = sharedDump();
        String good = ConfigDump.toJson(dump);
        // The old hex serial, a port out of uint16 range, an extra key: each is refused.
        String hexSerial = good.replaceFirst("\"serialNumber\": \"[0-9]+\"", "\"serialNumber\": \"1f2e\"");
        String badPort = good.replace("\"443\": 8443", "\"443\": 84430");
        String extraKey = good.replaceFirst("\"identity\":", "\"colour\": \"blue\",\n      \"identity\":");
        for (String bad : List.of(hexSerial, badPort, extraKey)) {
            assertThat(bad).isNotEqualTo(good);
            assertThatThrownBy(() -> ConfigDumpClient.check(bad))
                    .as(bad)
                    .isInstanceOf(AssertionError.class)
                    .hasMessageContaining("the Go client rejected the dump");
        }
    }
}
