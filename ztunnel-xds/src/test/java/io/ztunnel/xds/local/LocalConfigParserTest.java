package io.ztunnel.xds.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import com.google.protobuf.UInt32Value;
import io.ztunnel.xds.proto.security.Action;
import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.security.Match;
import io.ztunnel.xds.proto.security.Scope;
import io.ztunnel.xds.proto.security.ServiceAccountMatch;
import io.ztunnel.xds.proto.security.StringMatch;
import io.ztunnel.xds.proto.workload.Address;
import io.ztunnel.xds.proto.workload.ApplicationTunnel;
import io.ztunnel.xds.proto.workload.GatewayAddress;
import io.ztunnel.xds.proto.workload.IPFamilies;
import io.ztunnel.xds.proto.workload.LoadBalancing;
import io.ztunnel.xds.proto.workload.Locality;
import io.ztunnel.xds.proto.workload.NamespacedHostname;
import io.ztunnel.xds.proto.workload.NetworkAddress;
import io.ztunnel.xds.proto.workload.NetworkMode;
import io.ztunnel.xds.proto.workload.Port;
import io.ztunnel.xds.proto.workload.PortList;
import io.ztunnel.xds.proto.workload.Service;
import io.ztunnel.xds.proto.workload.TunnelProtocol;
import io.ztunnel.xds.proto.workload.Visibility;
import io.ztunnel.xds.proto.workload.Workload;
import io.ztunnel.xds.proto.workload.WorkloadStatus;
import io.ztunnel.xds.proto.workload.WorkloadType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Local config YAML to protos: the reference example, every field and spelling, and every kind of error. */
class LocalConfigParserTest {

    /** The tiny example of the reference (section 9.2), same shape as examples/localhost.yaml. */
    static final String TINY = """
      workloads:
      - uid: c1//v1/Pod/default/app
        name: app
        namespace: default
        serviceAccount: default
        trustDomain: cluster.local
        workloadIps: ["127.0.0.1"]
        protocol: HBONE
        node: local
        services:
          "default/app.default.svc.cluster.local": {80: 8080}
      services:
      - name: app
        namespace: default
        hostname: app.default.svc.cluster.local
        vips: ["/127.10.0.1"]
        ports: {80: 8080}
      policies:
      - name: no-9999
        namespace: default
        scope: Namespace
        action: Allow
        dryRun: false
        rules: [[[{notDestinationPorts: [9999]}]]]
      """;

    static ByteString ip(int a, int b, int c, int d) {
        return ByteString.copyFrom(new byte[] {(byte) a, (byte) b, (byte) c, (byte) d});
    }

    static Port port(int service, int target) {
        return Port.newBuilder().setServicePort(service).setTargetPort(target).build();
    }

    @Test
    void parsesTheTinyExampleIntoTheProtosXdsWouldDeliver() throws Exception {
        LocalConfig config = LocalConfigParser.parse(TINY, "tiny.yaml");

        Workload expectedWorkload = Workload.newBuilder()
                .setUid("c1//v1/Pod/default/app")
                .setName("app")
                .setNamespace("default")
                .setServiceAccount("default")
                .setTrustDomain("cluster.local")
                .addAddresses(ip(127, 0, 0, 1))
                .setTunnelProtocol(TunnelProtocol.HBONE)
                .setNode("local")
                .putServices(
                        "default/app.default.svc.cluster.local",
                        PortList.newBuilder().addPorts(port(80, 8080)).build())
                .build();
        assertThat(config.workloads())
                .containsExactly(
                        Address.newBuilder().setWorkload(expectedWorkload).build());

        Service expectedService = Service.newBuilder()
                .setName("app")
                .setNamespace("default")
                .setHostname("app.default.svc.cluster.local")
                .addAddresses(NetworkAddress.newBuilder().setNetwork("").setAddress(ip(127, 10, 0, 1)))
                .addPorts(port(80, 8080))
                .build();
        assertThat(config.services())
                .containsExactly(
                        Address.newBuilder().setService(expectedService).build());

        Authorization policy = config.policies().getFirst();
        assertThat(policy.getName()).isEqualTo("no-9999");
        assertThat(policy.getNamespace()).isEqualTo("default");
        assertThat(policy.getScope()).isEqualTo(Scope.NAMESPACE);
        assertThat(policy.getAction()).isEqualTo(Action.ALLOW);
        assertThat(policy.getDryRun()).isFalse();
        assertThat(policy.getRulesCount()).isEqualTo(1);
        assertThat(policy.getRules(0).getClausesCount()).isEqualTo(1);
        assertThat(policy.getRules(0).getClauses(0).getMatchesList())
                .containsExactly(Match.newBuilder().addNotDestinationPorts(9999).build());

        assertThat(config.addressesByName())
                .containsOnlyKeys("c1//v1/Pod/default/app", "default/app.default.svc.cluster.local");
        assertThat(config.policiesByName()).containsOnlyKeys("default/no-9999");
    }

    @Test
    void parsesAFileUsingEveryField() throws Exception {
        String yaml = """
        workloads:
        - uid: c1//v1/Pod/ns1/full
          name: full
          namespace: ns1
          workloadIps: ["10.0.0.5", "fd00::5", "::ffff:10.1.2.3"]
          services:
            "ns1/svc.ns1.svc.cluster.local": {80: 8080, 443: 8443}
            "ns1/other.example.com": {}
          trustDomain: td.local
          serviceAccount: sa1
          network: net1
          workloadName: full-deploy
          workloadType: deployment
          canonicalName: full-app
          canonicalRevision: v2
          hostname: full.example.com
          node: node-a
          nativeTunnel: true
          applicationTunnel: {protocol: PROXY, port: 15088}
          authorizationPolicies: ["ns1/p1", "ns1/p2"]
          status: Unhealthy
          clusterId: cluster-x
          locality: {region: r1, zone: z1, subzone: s1}
          capacity: 7
          protocol: TCP
          networkMode: HostNetwork
          waypoint: {destination: "ns1/waypoint.ns1.svc.cluster.local", hboneMtlsPort: 15008}
          networkGateway: {destination: "net2/192.168.1.1", hboneMtlsPort: 15009}
        - uid: second
          namespace: ns2
          workloadIps: []
          services: {}
        services:
        - name: svc
          namespace: ns1
          hostname: svc.ns1.svc.cluster.local
          vips: ["/10.96.0.1", "net1/fd00::1"]
          cidrVips: ["net1/10.10.0.0/16"]
          ports: {443: 8443, 80: 0}
          subjectAltNames: ["spiffe://td.local/ns/ns1/sa/sa1"]
          waypoint: {destination: "/10.0.0.9", hboneMtlsPort: 15008}
          weightedWaypoints:
          - destination: {destination: "ns1/wp-a.ns1.svc.cluster.local", hboneMtlsPort: 15008}
            weight: 90
          - destination: {destination: "/10.0.0.10", hboneMtlsPort: 15008}
            weight: 10
          loadBalancer:
            routingPreferences: [Region, Zone, Subzone, Node, Cluster, Network]
            mode: Failover
            healthPolicy: AllowAll
          ipFamilies: Dual
          visibility: Namespace
          canonical: true
          endpoints:
            second: {workloadUid: second, port: {80: 9090}, status: Healthy}
        policies:
        - name: p1
          namespace: ns1
          scope: WorkloadSelector
          action: Deny
          dryRun: true
          rules:
          - - - namespaces: [{Exact: ns1}, {Prefix: "ns-"}]
                notNamespaces: [{Suffix: "-test"}]
                principals: [{Presence: []}, !Exact "td.local/ns/ns1/sa/a"]
                notPrincipals: [{Prefix: "td.local/ns/evil"}]
                serviceAccounts: [{namespace: ns1, serviceAccount: sa1}]
                notServiceAccounts: [{namespace: ns9, serviceAccount: bad}]
                sourceIps: ["10.0.0.0/8", "fd00::/8"]
                notSourceIps: ["10.9.0.0/16"]
                destinationIps: ["192.168.0.1/32"]
                notDestinationIps: ["192.168.0.2/32"]
                destinationPorts: [80, 443]
                notDestinationPorts: [9999]
              - {}
            - []
          - []
        """;
        LocalConfig config = LocalConfigParser.parse(yaml, "full.yaml");

        Workload w = config.workloads().get(0).getWorkload();
        assertThat(w.getUid()).isEqualTo("c1//v1/Pod/ns1/full");
        assertThat(w.getName()).isEqualTo("full");
        assertThat(w.getNamespace()).isEqualTo("ns1");
        byte[] mapped = new byte[16];
        mapped[10] = (byte) 0xff;
        mapped[11] = (byte) 0xff;
        mapped[12] = 10;
        mapped[13] = 1;
        mapped[14] = 2;
        mapped[15] = 3;
        byte[] v6 = new byte[16];
        v6[0] = (byte) 0xfd;
        v6[15] = 5;
        assertThat(w.getAddressesList())
                .containsExactly(ip(10, 0, 0, 5), ByteString.copyFrom(v6), ByteString.copyFrom(mapped));
        assertThat(w.getServicesMap())
                .containsEntry(
                        "ns1/svc.ns1.svc.cluster.local",
                        PortList.newBuilder()
                                .addPorts(port(80, 8080))
                                .addPorts(port(443, 8443))
                                .build())
                .containsEntry("ns1/other.example.com", PortList.getDefaultInstance());
        assertThat(w.getTrustDomain()).isEqualTo("td.local");
        assertThat(w.getServiceAccount()).isEqualTo("sa1");
        assertThat(w.getNetwork()).isEqualTo("net1");
        assertThat(w.getWorkloadName()).isEqualTo("full-deploy");
        assertThat(w.getWorkloadType()).isEqualTo(WorkloadType.DEPLOYMENT);
        assertThat(w.getCanonicalName()).isEqualTo("full-app");
        assertThat(w.getCanonicalRevision()).isEqualTo("v2");
        assertThat(w.getHostname()).isEqualTo("full.example.com");
        assertThat(w.getNode()).isEqualTo("node-a");
        assertThat(w.getNativeTunnel()).isTrue();
        assertThat(w.getApplicationTunnel())
                .isEqualTo(ApplicationTunnel.newBuilder()
                        .setProtocol(ApplicationTunnel.Protocol.PROXY)
                        .setPort(15088)
                        .build());
        assertThat(w.getAuthorizationPoliciesList()).containsExactly("ns1/p1", "ns1/p2");
        assertThat(w.getStatus()).isEqualTo(WorkloadStatus.UNHEALTHY);
        assertThat(w.getClusterId()).isEqualTo("cluster-x");
        assertThat(w.getLocality())
                .isEqualTo(Locality.newBuilder()
                        .setRegion("r1")
                        .setZone("z1")
                        .setSubzone("s1")
                        .build());
        assertThat(w.getCapacity()).isEqualTo(UInt32Value.of(7));
        assertThat(w.getTunnelProtocol()).isEqualTo(TunnelProtocol.NONE);
        assertThat(w.getNetworkMode()).isEqualTo(NetworkMode.HOST_NETWORK);
        assertThat(w.getWaypoint())
                .isEqualTo(GatewayAddress.newBuilder()
                        .setHostname(NamespacedHostname.newBuilder()
                                .setNamespace("ns1")
                                .setHostname("waypoint.ns1.svc.cluster.local"))
                        .setHboneMtlsPort(15008)
                        .build());
        assertThat(w.getNetworkGateway())
                .isEqualTo(GatewayAddress.newBuilder()
                        .setAddress(
                                NetworkAddress.newBuilder().setNetwork("net2").setAddress(ip(192, 168, 1, 1)))
                        .setHboneMtlsPort(15009)
                        .build());

        // The service endpoint was folded into the second workload's services map.
        Workload second = config.workloads().get(1).getWorkload();
        assertThat(second.getServicesMap())
                .containsExactly(Map.entry(
                        "ns1/svc.ns1.svc.cluster.local",
                        PortList.newBuilder().addPorts(port(80, 9090)).build()));
        assertThat(second.hasCapacity()).isFalse();
        assertThat(second.getTrustDomain()).isEmpty();
        assertThat(second.getServiceAccount()).isEmpty();

        Service s = config.services().get(0).getService();
        byte[] v6vip = new byte[16];
        v6vip[0] = (byte) 0xfd;
        v6vip[15] = 1;
        assertThat(s.getAddressesList())
                .containsExactly(
                        NetworkAddress.newBuilder()
                                .setNetwork("")
                                .setAddress(ip(10, 96, 0, 1))
                                .build(),
                        NetworkAddress.newBuilder()
                                .setNetwork("net1")
                                .setAddress(ByteString.copyFrom(v6vip))
                                .build(),
                        NetworkAddress.newBuilder()
                                .setNetwork("net1")
                                .setAddress(ip(10, 10, 0, 0))
                                .setLength(16)
                                .build());
        assertThat(s.getAddresses(0).hasLength()).isFalse();
        assertThat(s.getPortsList()).containsExactly(port(80, 0), port(443, 8443));
        assertThat(s.getSubjectAltNamesList()).containsExactly("spiffe://td.local/ns/ns1/sa/sa1");
        assertThat(s.getWaypoint().getAddress().getAddress()).isEqualTo(ip(10, 0, 0, 9));
        assertThat(s.getWeightedWaypointsCount()).isEqualTo(2);
        assertThat(s.getWeightedWaypoints(0).getWeight()).isEqualTo(90);
        assertThat(s.getWeightedWaypoints(0).getDestination().getHostname().getHostname())
                .isEqualTo("wp-a.ns1.svc.cluster.local");
        assertThat(s.getWeightedWaypoints(1).getDestination().getAddress().getAddress())
                .isEqualTo(ip(10, 0, 0, 10));
        assertThat(s.getLoadBalancing())
                .isEqualTo(LoadBalancing.newBuilder()
                        .addRoutingPreference(LoadBalancing.Scope.REGION)
                        .addRoutingPreference(LoadBalancing.Scope.ZONE)
                        .addRoutingPreference(LoadBalancing.Scope.SUBZONE)
                        .addRoutingPreference(LoadBalancing.Scope.NODE)
                        .addRoutingPreference(LoadBalancing.Scope.CLUSTER)
                        .addRoutingPreference(LoadBalancing.Scope.NETWORK)
                        .setMode(LoadBalancing.Mode.FAILOVER)
                        .setHealthPolicy(LoadBalancing.HealthPolicy.ALLOW_ALL)
                        .build());
        assertThat(s.getIpFamilies()).isEqualTo(IPFamilies.DUAL);
        assertThat(s.getVisibility()).isEqualTo(Visibility.NAMESPACE);
        assertThat(s.getCanonical()).isTrue();

        Authorization p = config.policies().get(0);
        assertThat(p.getScope()).isEqualTo(Scope.WORKLOAD_SELECTOR);
        assertThat(p.getAction()).isEqualTo(Action.DENY);
        assertThat(p.getDryRun()).isTrue();
        assertThat(p.getRulesCount()).isEqualTo(2);
        assertThat(p.getRules(0).getClausesCount()).isEqualTo(2);
        assertThat(p.getRules(0).getClauses(1).getMatchesCount()).isZero();
        assertThat(p.getRules(1).getClausesCount()).isZero();
        List<Match> matches = p.getRules(0).getClauses(0).getMatchesList();
        assertThat(matches).hasSize(2);
        assertThat(matches.get(1)).isEqualTo(Match.getDefaultInstance());
        Match m = matches.get(0);
        assertThat(m.getNamespacesList())
                .containsExactly(
                        StringMatch.newBuilder().setExact("ns1").build(),
                        StringMatch.newBuilder().setPrefix("ns-").build());
        assertThat(m.getNotNamespacesList())
                .containsExactly(StringMatch.newBuilder().setSuffix("-test").build());
        assertThat(m.getPrincipalsList()).hasSize(2);
        assertThat(m.getPrincipals(0).hasPresence()).isTrue();
        assertThat(m.getPrincipals(1).getExact()).isEqualTo("td.local/ns/ns1/sa/a");
        assertThat(m.getNotPrincipals(0).getPrefix()).isEqualTo("td.local/ns/evil");
        assertThat(m.getServiceAccountsList())
                .containsExactly(ServiceAccountMatch.newBuilder()
                        .setNamespace("ns1")
                        .setServiceAccount("sa1")
                        .build());
        assertThat(m.getNotServiceAccounts(0).getServiceAccount()).isEqualTo("bad");
        assertThat(m.getSourceIps(0).getAddress()).isEqualTo(ip(10, 0, 0, 0));
        assertThat(m.getSourceIps(0).getLength()).isEqualTo(8);
        assertThat(m.getSourceIps(1).getAddress().size()).isEqualTo(16);
        assertThat(m.getSourceIps(1).getLength()).isEqualTo(8);
        assertThat(m.getNotSourceIps(0).getLength()).isEqualTo(16);
        assertThat(m.getDestinationIps(0).getAddress()).isEqualTo(ip(192, 168, 0, 1));
        assertThat(m.getDestinationIps(0).getLength()).isEqualTo(32);
        assertThat(m.getNotDestinationIps(0).getAddress()).isEqualTo(ip(192, 168, 0, 2));
        assertThat(m.getDestinationPortsList()).containsExactly(80, 443);
        assertThat(m.getNotDestinationPortsList()).containsExactly(9999);
    }

    @ParameterizedTest
    @CsvSource({
        "protocol, TCP, tunnelProtocol, NONE",
        "protocol, HBONE, tunnelProtocol, HBONE",
        "networkMode, Standard, networkMode, STANDARD",
        "networkMode, HostNetwork, networkMode, HOST_NETWORK",
        "status, Healthy, status, HEALTHY",
        "status, Unhealthy, status, UNHEALTHY",
        "workloadType, deployment, workloadType, DEPLOYMENT",
        "workloadType, cronjob, workloadType, CRONJOB",
        "workloadType, pod, workloadType, POD",
        "workloadType, Job, workloadType, JOB",
    })
    void acceptsEveryWorkloadEnumSpelling(String key, String spelling, String field, String expected) throws Exception {
        String yaml =
                "workloads:\n- namespace: ns\n  workloadIps: []\n  services: {}\n  " + key + ": " + spelling + "\n";
        Workload w = LocalConfigParser.parse(yaml, "t").workloads().getFirst().getWorkload();
        Object value = switch (field) {
            case "tunnelProtocol" -> w.getTunnelProtocol();
            case "networkMode" -> w.getNetworkMode();
            case "status" -> w.getStatus();
            case "workloadType" -> w.getWorkloadType();
            default -> throw new AssertionError(field);
        };
        assertThat(value).hasToString(expected);
    }

    @ParameterizedTest
    @CsvSource({
        "NONE, NONE",
        "PROXY, PROXY",
    })
    void acceptsApplicationTunnelProtocols(String spelling, ApplicationTunnel.Protocol expected) throws Exception {
        String yaml = "workloads:\n- namespace: ns\n  workloadIps: []\n  services: {}\n"
                + "  applicationTunnel: {protocol: "
                + spelling
                + "}\n";
        ApplicationTunnel t = LocalConfigParser.parse(yaml, "t")
                .workloads()
                .getFirst()
                .getWorkload()
                .getApplicationTunnel();
        assertThat(t.getProtocol()).isEqualTo(expected);
        assertThat(t.getPort()).isZero();
    }

    static String serviceWith(String extra) {
        return "services:\n- name: s\n  namespace: ns\n  hostname: s.ns\n  vips: []\n  ports: {}\n  " + extra + "\n";
    }

    @ParameterizedTest
    @CsvSource({
        "Standard, UNSPECIFIED_MODE",
        "Strict, STRICT",
        "Failover, FAILOVER",
        "Passthrough, PASSTHROUGH",
    })
    void acceptsEveryLoadBalancerMode(String spelling, LoadBalancing.Mode expected) throws Exception {
        Service s = LocalConfigParser.parse(
                        serviceWith("loadBalancer: {routingPreferences: [], mode: "
                                + spelling
                                + ", healthPolicy: OnlyHealthy}"),
                        "t")
                .services()
                .getFirst()
                .getService();
        assertThat(s.getLoadBalancing().getMode()).isEqualTo(expected);
        assertThat(s.getLoadBalancing().getHealthPolicy()).isEqualTo(LoadBalancing.HealthPolicy.ONLY_HEALTHY);
    }

    @ParameterizedTest
    @CsvSource({
        "ipFamilies: Dual, DUAL",
        "ipFamilies: IPv4, IPV4_ONLY",
        "ipFamilies: IPv6, IPV6_ONLY",
        "canonical: false, AUTOMATIC",
    })
    void acceptsEveryIpFamily(String extra, IPFamilies expected) throws Exception {
        Service s = LocalConfigParser.parse(serviceWith(extra), "t")
                .services()
                .getFirst()
                .getService();
        assertThat(s.getIpFamilies()).isEqualTo(expected);
    }

    @ParameterizedTest
    @CsvSource({"Public, PUBLIC", "Namespace, NAMESPACE"})
    void acceptsEveryVisibility(String spelling, Visibility expected) throws Exception {
        Service s = LocalConfigParser.parse(serviceWith("visibility: " + spelling), "t")
                .services()
                .getFirst()
                .getService();
        assertThat(s.getVisibility()).isEqualTo(expected);
    }

    @ParameterizedTest
    @CsvSource({
        "Global, Allow, GLOBAL, ALLOW",
        "Namespace, Deny, NAMESPACE, DENY",
        "WorkloadSelector, Allow, WORKLOAD_SELECTOR, ALLOW",
    })
    void acceptsEveryPolicyScopeAndAction(String scope, String action, Scope expectedScope, Action expectedAction)
            throws Exception {
        String yaml = "policies:\n- {name: p, namespace: ns, scope: "
                + scope
                + ", action: "
                + action
                + ", dryRun: false, rules: []}\n";
        Authorization p = LocalConfigParser.parse(yaml, "t").policies().getFirst();
        assertThat(p.getScope()).isEqualTo(expectedScope);
        assertThat(p.getAction()).isEqualTo(expectedAction);
    }

    @Test
    void acceptsPresenceWithNullOrTagForm() throws Exception {
        String yaml = """
        policies:
        - name: p
          namespace: ns
          scope: Global
          action: Allow
          dryRun: false
          rules: [[[{principals: [{Presence: }, !Presence [], !Prefix "a", !Suffix b]}]]]
        """;
        Match m = LocalConfigParser.parse(yaml, "t")
                .policies()
                .getFirst()
                .getRules(0)
                .getClauses(0)
                .getMatches(0);
        assertThat(m.getPrincipals(0).hasPresence()).isTrue();
        assertThat(m.getPrincipals(1).hasPresence()).isTrue();
        assertThat(m.getPrincipals(2).getPrefix()).isEqualTo("a");
        assertThat(m.getPrincipals(3).getSuffix()).isEqualTo("b");
    }

    @Test
    void emptyMappingIsAnEmptyConfig() throws Exception {
        assertThat(LocalConfigParser.parse("{}", "t")).isEqualTo(LocalConfig.empty());
        assertThat(LocalConfigParser.parse("workloads: []\nservices:\npolicies: []\n", "t"))
                .isEqualTo(LocalConfig.empty());
    }

    @Test
    void omittedOptionalFieldsKeepProtoDefaults() throws Exception {
        Workload w = LocalConfigParser.parse(
                        "workloads:\n- namespace: ns\n  workloadIps: [\"1.2.3.4\"]\n  services: {}\n", "t")
                .workloads()
                .getFirst()
                .getWorkload();
        assertThat(w)
                .isEqualTo(Workload.newBuilder()
                        .setNamespace("ns")
                        .addAddresses(ip(1, 2, 3, 4))
                        .build());
    }

    @Test
    void parsesInlineYamlWithTheLocalXdsSourceName() throws Exception {
        assertThat(LocalConfigParser.parseInline(TINY).workloads()).hasSize(1);
        assertThatThrownBy(() -> LocalConfigParser.parseInline("workloads: 3"))
                .isInstanceOf(LocalConfigException.class)
                .hasMessageStartingWith("LOCAL_XDS: line 1, column 12: workloads: expected a list");
    }

    @Test
    void parsesAFileAndNamesItInErrors(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("local.yaml");
        Files.writeString(file, TINY);
        assertThat(LocalConfigParser.parseFile(file).services()).hasSize(1);

        Files.writeString(file, "workloads:\n- namespace: ns\n  workloadIps: []\n  services: {}\n  protocl: TCP\n");
        assertThatThrownBy(() -> LocalConfigParser.parseFile(file))
                .isInstanceOf(LocalConfigException.class)
                .hasMessage(
                        file + ": line 5, column 3: workloads[0].protocl: unknown field (did you mean \"protocol\"?)");

        Path missing = dir.resolve("nope.yaml");
        assertThatThrownBy(() -> LocalConfigParser.parseFile(missing))
                .isInstanceOf(LocalConfigException.class)
                .hasMessageStartingWith(missing + ": cannot read file");

        Files.write(file, new byte[] {'a', ':', ' ', (byte) 0xC3, (byte) 0x28});
        assertThatThrownBy(() -> LocalConfigParser.parseFile(file))
                .isInstanceOf(LocalConfigException.class)
                .hasMessage(file + ": file is not valid UTF-8");
    }

    // ----- errors --------------------------------------------------------------------------------

    static LocalConfigException parseError(String yaml) {
        try {
            LocalConfigParser.parse(yaml, "cfg.yaml");
        } catch (LocalConfigException e) {
            return e;
        }
        throw new AssertionError("expected a LocalConfigException for:\n" + yaml);
    }

    @Test
    void unknownFieldNamesLineColumnAndPath() {
        String yaml = """
        workloads:
        - uid: a
          namespace: default
          workloadIps: ["127.0.0.1"]
          services: {}
        - uid: b
          protocl: HBONE
          namespace: default
        """;
        LocalConfigException e = parseError(yaml);
        assertThat(e.line()).isEqualTo(7);
        assertThat(e.column()).isEqualTo(3);
        assertThat(e.path()).isEqualTo("workloads[1].protocl");
        assertThat(e.getMessage())
                .isEqualTo(
                        "cfg.yaml: line 7, column 3: workloads[1].protocl: unknown field (did you mean \"protocol\"?)");
    }

    @Test
    void unknownTopLevelAndNestedFieldsAreRejected() {
        assertThat(parseError("workload: []\n").getMessage())
                .isEqualTo("cfg.yaml: line 1, column 1: workload: unknown field (did you mean \"workloads\"?)");
        assertThat(parseError(
                                serviceWith(
                                        "loadBalancer: {mode: Strict, healthPolicy: AllowAll, routingPreferences: [], extra: 1}"))
                        .path())
                .isEqualTo("services[0].loadBalancer.extra");
        assertThat(parseError("policies:\n- {name: p, namespace: n, scope: Global, action: Allow, dryRun: false,"
                                + " rules: [[[{sourceIp: [\"1.2.3.4/32\"]}]]]}\n")
                        .path())
                .isEqualTo("policies[0].rules[0][0][0].sourceIp");
        assertThat(parseError(
                                "workloads:\n- namespace: n\n  workloadIps: []\n  services: {}\n  locality: {region: a, zone: b, subzone: c, planet: d}\n")
                        .getMessage())
                .contains("line 5, column 46: workloads[0].locality.planet: unknown field");
    }

    @Test
    void wrongTypesAreReportedWithTheValueFound() {
        LocalConfigException e =
                parseError("workloads:\n- namespace: n\n  workloadIps: \"127.0.0.1\"\n  services: {}\n");
        assertThat(e.getMessage())
                .isEqualTo(
                        "cfg.yaml: line 3, column 16: workloads[0].workloadIps: expected a list, got the string \"127.0.0.1\"");

        assertThat(parseError(
                                "workloads:\n- namespace: n\n  workloadIps: []\n  services: {}\n  nativeTunnel: \"yes\"\n")
                        .getMessage())
                .endsWith("workloads[0].nativeTunnel: expected a boolean (true or false), got the string \"yes\"");
        assertThat(parseError("workloads:\n- namespace: n\n  workloadIps: []\n  services: {}\n  capacity: -1\n")
                        .getMessage())
                .endsWith("workloads[0].capacity: expected an integer from 0 to 4294967295, got -1");
        assertThat(parseError(serviceWith("").replace("ports: {}", "ports: {80: \"8080\"}"))
                        .getMessage())
                .endsWith("services[0].ports[80]: expected an integer from 0 to 65535, got the string \"8080\"");
        assertThat(parseError(serviceWith("").replace("ports: {}", "ports: {70000: 80}"))
                        .getMessage())
                .endsWith("services[0].ports[70000]: expected a port number from 0 to 65535, got \"70000\"");
        assertThat(parseError("workloads:\n- namespace: [a]\n  workloadIps: []\n  services: {}\n")
                        .getMessage())
                .endsWith("line 2, column 14: workloads[0].namespace: expected a string, got a list");
        assertThat(parseError("- a\n- b\n").getMessage())
                .isEqualTo("cfg.yaml: line 1, column 1: expected a mapping, got a list");
    }

    @Test
    void badValuesAreReported() {
        assertThat(parseError("workloads:\n- namespace: n\n  workloadIps: [\"300.1.1.1\"]\n  services: {}\n")
                        .getMessage())
                .endsWith(
                        "workloads[0].workloadIps[0]: expected an IP address such as \"10.0.0.1\" or \"fd00::1\", got \"300.1.1.1\"");
        assertThat(parseError("workloads:\n- namespace: n\n  workloadIps: [\"localhost\"]\n  services: {}\n")
                        .path())
                .isEqualTo("workloads[0].workloadIps[0]");
        assertThat(parseError("workloads:\n- namespace: n\n  workloadIps: []\n  services: {}\n  protocol: hbone\n")
                        .getMessage())
                .endsWith(
                        "workloads[0].protocol: unknown value \"hbone\" (did you mean \"HBONE\"?) (expected one of TCP, HBONE)");
        assertThat(parseError(
                                "workloads:\n- namespace: n\n  workloadIps: []\n  services: {}\n  workloadType: daemonset\n")
                        .getMessage())
                .endsWith("unknown workload type \"daemonset\" (expected one of: deployment, cronjob, pod, job)");
        assertThat(parseError("workloads:\n- namespace: n\n  workloadIps: []\n  services: {\"nohost\": {}}\n")
                        .getMessage())
                .endsWith("workloads[0].services[\"nohost\"]: service key must be \"<namespace>/<hostname>\"");
        assertThat(parseError(serviceWith("").replace("vips: []", "vips: [\"10.0.0.1\"]"))
                        .getMessage())
                .endsWith(
                        "services[0].vips[0]: expected \"<network>/<ip>\" (e.g. \"/10.0.0.1\" on the default network), got \"10.0.0.1\"");
        assertThat(parseError(serviceWith("waypoint: {destination: nohost, hboneMtlsPort: 15008}"))
                        .getMessage())
                .endsWith(
                        "services[0].waypoint.destination: expected \"<network>/<ip>\" or \"<namespace>/<hostname>\", got \"nohost\"");
        assertThat(parseError(serviceWith("cidrVips: [\"/10.0.0.0/33\"]")).path())
                .isEqualTo("services[0].cidrVips[0]");
        assertThat(parseError("policies:\n- {name: p, namespace: n, scope: Global, action: Allow, dryRun: false,"
                                + " rules: [[[{sourceIps: [\"1.2.3.4\"]}]]]}\n")
                        .getMessage())
                .endsWith(
                        "policies[0].rules[0][0][0].sourceIps[0]: expected a CIDR such as \"10.0.0.0/8\" or \"fd00::/8\", got \"1.2.3.4\"");
        assertThat(parseError("policies:\n- {name: p, namespace: n, scope: Global, action: Allow, dryRun: false,"
                                + " rules: [[[{principals: [{Exactly: a}]}]]]}\n")
                        .getMessage())
                .contains(
                        "policies[0].rules[0][0][0].principals[0].Exactly: unknown StringMatch variant (did you mean \"Exact\"?)");
        assertThat(parseError("policies:\n- {name: p, namespace: n, scope: Global, action: Allow, dryRun: false,"
                                + " rules: [[[{principals: [{Exact: a, Prefix: b}]}]]]}\n")
                        .getMessage())
                .contains("exactly one of Exact, Prefix, Suffix or Presence, got 2 keys");
        assertThat(parseError("policies:\n- {name: p, namespace: n, scope: Global, action: Allow, dryRun: false,"
                                + " rules: [[[{principals: [{Presence: [x]}]}]]]}\n")
                        .getMessage())
                .contains("principals[0].Presence: Presence takes no value");
    }

    @Test
    void missingRequiredFieldsAreNamed() {
        assertThat(parseError("workloads:\n- namespace: n\n  services: {}\n").getMessage())
                .isEqualTo("cfg.yaml: line 2, column 3: workloads[0]: missing required field \"workloadIps\"");
        assertThat(parseError("workloads:\n- namespace: n\n  workloadIps: []\n").getMessage())
                .endsWith("workloads[0]: missing required field \"services\"");
        assertThat(parseError("workloads:\n- workloadIps: []\n  services: {}\n").getMessage())
                .endsWith("workloads[0]: missing required field \"namespace\"");
        assertThat(parseError("services:\n- {name: s, namespace: n, hostname: h, vips: []}\n")
                        .getMessage())
                .endsWith("services[0]: missing required field \"ports\"");
        assertThat(parseError("policies:\n- {name: p, namespace: n, scope: Global, action: Allow, rules: []}\n")
                        .getMessage())
                .endsWith("policies[0]: missing required field \"dryRun\"");
        assertThat(parseError(
                                "workloads:\n- {namespace: n, workloadIps: [], services: {}, waypoint: {destination: a/b}}\n")
                        .getMessage())
                .endsWith("workloads[0].waypoint: missing required field \"hboneMtlsPort\"");
    }

    @Test
    void duplicatesAreRejected() {
        assertThat(parseError(
                                "workloads:\n- {namespace: n, workloadIps: [], services: {}}\n- {namespace: m, workloadIps: [], services: {}}\n")
                        .getMessage())
                .isEqualTo(
                        "cfg.yaml: line 3, column 3: workloads[1].uid: duplicate uid \"\" (also used by workloads[0]); every workload needs its own uid");
        assertThat(parseError(serviceWith("") + "- {name: s, namespace: ns, hostname: s.ns, vips: [], ports: {}}\n")
                        .getMessage())
                .contains("services[1]: duplicate service \"ns/s.ns\" (also defined by services[0])");
        assertThat(parseError(
                                "policies:\n- {name: p, namespace: n, scope: Global, action: Allow, dryRun: false, rules: []}\n- {name: p, namespace: n, scope: Global, action: Deny, dryRun: false, rules: []}\n")
                        .getMessage())
                .contains("policies[1]: duplicate policy \"n/p\"");
        assertThat(parseError("workloads: []\nworkloads: []\n").getMessage())
                .isEqualTo("cfg.yaml: line 2, column 1: duplicate key \"workloads\" (first at line 1)");
        assertThat(parseError(serviceWith("").replace("ports: {}", "ports: {80: 1, 0x50: 2}"))
                        .getMessage())
                .contains("services[0].ports[0x50]: duplicate port 80");
    }

    @Test
    void endpointsMustReferToAWorkloadInTheFile() {
        String base = "workloads:\n- {uid: w, namespace: n, workloadIps: [], services: {\"ns/s.ns\": {80: 1}}}\n";
        assertThat(parseError(base + serviceWith("endpoints: {x: {workloadUid: x, port: {}, status: Healthy}}"))
                        .getMessage())
                .contains("services[0].endpoints[\"x\"]: no workload with uid \"x\" in this config");
        assertThat(parseError(base + serviceWith("endpoints: {w: {workloadUid: w, port: {80: 2}, status: Healthy}}"))
                        .getMessage())
                .contains("conflicts with workloads[0].services[\"ns/s.ns\"]");
        assertThat(parseError(base + serviceWith("endpoints: {w: {workloadUid: v, port: {80: 1}, status: Healthy}}"))
                        .getMessage())
                .contains("workloadUid \"v\" differs from its key \"w\"");
        assertThat(parseError(base + serviceWith("endpoints: {w: {workloadUid: w, port: {80: 1}, status: Unhealthy}}"))
                        .getMessage())
                .contains("endpoint status Unhealthy differs from workloads[0].status Healthy");
    }

    @Test
    void malformedYamlIsReportedWithPosition() {
        LocalConfigException e = parseError("workloads:\n  - a: [1, 2\n");
        assertThat(e.line()).isPositive();
        assertThat(e.getMessage()).startsWith("cfg.yaml: line ").contains("invalid YAML");

        assertThat(parseError("").getMessage())
                .isEqualTo("cfg.yaml: empty document; write {} for a config with no workloads, services or policies");
        assertThat(parseError("{}\n---\n{}\n").getMessage()).contains("more than one YAML document");
        assertThat(parseError("workloads: &a []\nservices: *a\n").getMessage()).contains("aliases");
    }

    @Test
    void theReferenceExampleFileParses() throws Exception {
        String yaml = new String(
                LocalConfigParserTest.class
                        .getResourceAsStream("/localhost-example.yaml")
                        .readAllBytes(),
                StandardCharsets.UTF_8);
        LocalConfig config = LocalConfigParser.parse(yaml, "localhost-example.yaml");
        assertThat(config.workloads()).hasSize(2);
        assertThat(config.services()).hasSize(2);
        assertThat(config.services().get(1).getService().getAddresses(0).getNetwork())
                .isEqualTo("remote");
        assertThat(config.policies()).hasSize(1);
    }
}
