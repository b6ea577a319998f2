package io.ztunnel.xds.local;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.UInt32Value;
import io.ztunnel.xds.proto.security.Action;
import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.security.Clause;
import io.ztunnel.xds.proto.security.Match;
import io.ztunnel.xds.proto.security.Rule;
import io.ztunnel.xds.proto.security.Scope;
import io.ztunnel.xds.proto.security.ServiceAccountMatch;
import io.ztunnel.xds.proto.security.StringMatch;
import io.ztunnel.xds.proto.workload.Address;
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
import io.ztunnel.xds.proto.workload.Workload;
import io.ztunnel.xds.proto.workload.WorkloadStatus;
import io.ztunnel.xds.proto.workload.WorkloadType;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Consumer;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.StringLength;
import net.jqwik.api.statistics.Statistics;

/**
 * Property tests: random valid configs survive model → YAML → parse unchanged (compared with
 * protos built independently from the model), and arbitrary input never produces anything but a
 * {@link LocalConfigException}.
 */
class LocalConfigPropertiesTest {

    private static final YAMLMapper YAML = new YAMLMapper();

    // ----- model ---------------------------------------------------------------------------------

    /** A value that renders to a YAML tree fragment and to the proto we expect back. */
    record Spec(Object yaml, Object expected) {}

    static Arbitrary<String> text() {
        return Arbitraries.strings()
                .withCharRange('a', 'z')
                .withCharRange('0', '9')
                .withChars("-._ :#'\"\\{}[],&*!|>%@`ÄöüßΩ日本\t")
                .ofMinLength(0)
                .ofMaxLength(12);
    }

    static Arbitrary<String> word() {
        return Arbitraries.strings().withCharRange('a', 'z').ofMinLength(1).ofMaxLength(10);
    }

    static Arbitrary<byte[]> ipBytes() {
        return Arbitraries.oneOf(
                Arbitraries.bytes().array(byte[].class).ofSize(4),
                Arbitraries.bytes().array(byte[].class).ofSize(16));
    }

    static String ipText(byte[] bytes) {
        if (bytes.length == 16) {
            // Format IPv6 by hand: the JDK would turn an IPv4-mapped address into its IPv4 form.
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < 16; i += 2) {
                if (i > 0) {
                    sb.append(':');
                }
                sb.append(Integer.toHexString(((bytes[i] & 0xff) << 8) | (bytes[i + 1] & 0xff)));
            }
            return sb.toString();
        }
        try {
            return InetAddress.getByAddress(bytes).getHostAddress();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static Arbitrary<Map<Integer, Integer>> portMap() {
        return Arbitraries.maps(
                        Arbitraries.integers().between(0, 65535),
                        Arbitraries.integers().between(0, 65535))
                .ofMaxSize(4);
    }

    static List<Port> ports(Map<Integer, Integer> map) {
        List<Port> out = new ArrayList<>();
        new TreeMap<>(map)
                .forEach((k, v) -> out.add(
                        Port.newBuilder().setServicePort(k).setTargetPort(v).build()));
        return out;
    }

    static Map<String, Object> yamlPorts(Map<Integer, Integer> map) {
        Map<String, Object> out = new LinkedHashMap<>();
        map.forEach((k, v) -> out.put(Integer.toString(k), v));
        return out;
    }

    static Arbitrary<Spec> gateway() {
        Arbitrary<Spec> byAddress = Combinators.combine(
                        word().injectNull(0.3),
                        ipBytes(),
                        Arbitraries.integers().between(0, 65535))
                .as((net, ip, port) -> {
                    String network = net == null ? "" : net;
                    return new Spec(
                            Map.of("destination", network + "/" + ipText(ip), "hboneMtlsPort", port),
                            GatewayAddress.newBuilder()
                                    .setAddress(NetworkAddress.newBuilder()
                                            .setNetwork(network)
                                            .setAddress(ByteString.copyFrom(ip)))
                                    .setHboneMtlsPort(port)
                                    .build());
                });
        Arbitrary<Spec> byHost = Combinators.combine(
                        word(), word(), Arbitraries.integers().between(0, 65535))
                .as((ns, host, port) -> new Spec(
                        Map.of("destination", ns + "/" + host + ".svc", "hboneMtlsPort", port),
                        GatewayAddress.newBuilder()
                                .setHostname(NamespacedHostname.newBuilder()
                                        .setNamespace(ns)
                                        .setHostname(host + ".svc"))
                                .setHboneMtlsPort(port)
                                .build()));
        return Arbitraries.oneOf(byAddress, byHost);
    }

    /** An optional field: absent, or a key with a value and the change it makes to the builder. */
    record Field<B>(String key, Object yaml, Consumer<B> apply) {}

    static <B> Arbitrary<Optional<Field<B>>> optional(Arbitrary<Field<B>> field) {
        return field.optional(0.5);
    }

    static <E> Arbitrary<Map.Entry<String, E>> enumOf(Map<String, E> spellings) {
        return Arbitraries.of(List.copyOf(spellings.entrySet()));
    }

    static Arbitrary<Spec> workload() {
        List<Arbitrary<Optional<Field<Workload.Builder>>>> fields = List.of(
                optional(text().map(v -> new Field<>("name", v, b -> b.setName(v)))),
                optional(text().map(v -> new Field<>("trustDomain", v, b -> b.setTrustDomain(v)))),
                optional(text().map(v -> new Field<>("serviceAccount", v, b -> b.setServiceAccount(v)))),
                optional(word().map(v -> new Field<>("network", v, b -> b.setNetwork(v)))),
                optional(text().map(v -> new Field<>("node", v, b -> b.setNode(v)))),
                optional(text().map(v -> new Field<>("hostname", v, b -> b.setHostname(v)))),
                optional(text().map(v -> new Field<>("clusterId", v, b -> b.setClusterId(v)))),
                optional(text().map(v -> new Field<>("workloadName", v, b -> b.setWorkloadName(v)))),
                optional(text().map(v -> new Field<>("canonicalName", v, b -> b.setCanonicalName(v)))),
                optional(text().map(v -> new Field<>("canonicalRevision", v, b -> b.setCanonicalRevision(v)))),
                optional(enumOf(Map.of("TCP", TunnelProtocol.NONE, "HBONE", TunnelProtocol.HBONE))
                        .map(e -> new Field<>("protocol", e.getKey(), b -> b.setTunnelProtocol(e.getValue())))),
                optional(enumOf(Map.of("Standard", NetworkMode.STANDARD, "HostNetwork", NetworkMode.HOST_NETWORK))
                        .map(e -> new Field<>("networkMode", e.getKey(), b -> b.setNetworkMode(e.getValue())))),
                optional(enumOf(Map.of("Healthy", WorkloadStatus.HEALTHY, "Unhealthy", WorkloadStatus.UNHEALTHY))
                        .map(e -> new Field<>("status", e.getKey(), b -> b.setStatus(e.getValue())))),
                optional(enumOf(Map.of(
                                "deployment", WorkloadType.DEPLOYMENT,
                                "CronJob", WorkloadType.CRONJOB,
                                "pod", WorkloadType.POD,
                                "job", WorkloadType.JOB))
                        .map(e -> new Field<>("workloadType", e.getKey(), b -> b.setWorkloadType(e.getValue())))),
                optional(Arbitraries.of(true, false)
                        .map(v -> new Field<>("nativeTunnel", v, b -> b.setNativeTunnel(v)))),
                optional(Arbitraries.longs()
                        .between(0, 0xFFFF_FFFFL)
                        .map(v -> new Field<>("capacity", v, b -> b.setCapacity(UInt32Value.of((int) (long) v))))),
                optional(gateway()
                        .map(g ->
                                new Field<>("waypoint", g.yaml(), b -> b.setWaypoint((GatewayAddress) g.expected())))),
                optional(gateway()
                        .map(g -> new Field<>(
                                "networkGateway", g.yaml(), b -> b.setNetworkGateway((GatewayAddress) g.expected())))),
                optional(Combinators.combine(text(), text(), text())
                        .as((r, z, s) -> new Field<Workload.Builder>(
                                "locality",
                                Map.of("region", r, "zone", z, "subzone", s),
                                b -> b.setLocality(Locality.newBuilder()
                                        .setRegion(r)
                                        .setZone(z)
                                        .setSubzone(s))))),
                optional(text().list()
                        .ofMaxSize(3)
                        .map(v -> new Field<>("authorizationPolicies", v, b -> b.addAllAuthorizationPolicies(v)))));

        Arbitrary<List<Optional<Field<Workload.Builder>>>> chosen =
                Combinators.combine(fields).as(l -> l);
        return Combinators.combine(
                        word(),
                        text(),
                        ipBytes().list().ofMaxSize(3),
                        Arbitraries.maps(Combinators.combine(word(), text()).as((ns, h) -> ns + "/" + h), portMap())
                                .ofMaxSize(3),
                        chosen)
                .as((uid, namespace, ips, services, optionals) -> {
                    Map<String, Object> yaml = new LinkedHashMap<>();
                    Workload.Builder b = Workload.newBuilder().setUid(uid).setNamespace(namespace);
                    yaml.put("uid", uid);
                    yaml.put("namespace", namespace);
                    List<String> ipTexts = new ArrayList<>();
                    for (byte[] ip : ips) {
                        ipTexts.add(ipText(ip));
                        b.addAddresses(ByteString.copyFrom(ip));
                    }
                    yaml.put("workloadIps", ipTexts);
                    Map<String, Object> yamlServices = new LinkedHashMap<>();
                    services.forEach((k, v) -> {
                        yamlServices.put(k, yamlPorts(v));
                        b.putServices(
                                k, PortList.newBuilder().addAllPorts(ports(v)).build());
                    });
                    yaml.put("services", yamlServices);
                    for (Optional<Field<Workload.Builder>> f : optionals) {
                        f.ifPresent(field -> {
                            yaml.put(field.key(), field.yaml());
                            field.apply().accept(b);
                        });
                    }
                    return new Spec(yaml, b);
                });
    }

    static Arbitrary<Spec> service() {
        Arbitrary<Spec> vip = Combinators.combine(word().injectNull(0.5), ipBytes())
                .as((net, ip) -> {
                    String network = net == null ? "" : net;
                    return new Spec(
                            network + "/" + ipText(ip),
                            NetworkAddress.newBuilder()
                                    .setNetwork(network)
                                    .setAddress(ByteString.copyFrom(ip))
                                    .build());
                });
        Arbitrary<Spec> lb = Combinators.combine(
                        enumOf(Map.of(
                                        "Region", LoadBalancing.Scope.REGION,
                                        "Zone", LoadBalancing.Scope.ZONE,
                                        "Subzone", LoadBalancing.Scope.SUBZONE,
                                        "Node", LoadBalancing.Scope.NODE,
                                        "Cluster", LoadBalancing.Scope.CLUSTER,
                                        "Network", LoadBalancing.Scope.NETWORK))
                                .list()
                                .ofMaxSize(4),
                        enumOf(Map.of(
                                "Standard", LoadBalancing.Mode.UNSPECIFIED_MODE,
                                "Strict", LoadBalancing.Mode.STRICT,
                                "Failover", LoadBalancing.Mode.FAILOVER,
                                "Passthrough", LoadBalancing.Mode.PASSTHROUGH)),
                        enumOf(Map.of(
                                "OnlyHealthy", LoadBalancing.HealthPolicy.ONLY_HEALTHY,
                                "AllowAll", LoadBalancing.HealthPolicy.ALLOW_ALL)))
                .as((prefs, mode, health) -> {
                    LoadBalancing.Builder b =
                            LoadBalancing.newBuilder().setMode(mode.getValue()).setHealthPolicy(health.getValue());
                    prefs.forEach(p -> b.addRoutingPreference(p.getValue()));
                    return new Spec(
                            Map.of(
                                    "routingPreferences",
                                            prefs.stream()
                                                    .map(Map.Entry::getKey)
                                                    .toList(),
                                    "mode", mode.getKey(),
                                    "healthPolicy", health.getKey()),
                            b.build());
                });
        record Required(String name, String namespace, String host, List<Spec> vips, Map<Integer, Integer> ports) {}
        record Optionals(
                List<String> sans,
                Optional<Spec> waypoint,
                Optional<Spec> loadBalancer,
                Optional<Map.Entry<String, IPFamilies>> families,
                Optional<Boolean> canonical) {}
        Arbitrary<Required> required = Combinators.combine(
                        text(), word(), word(), vip.list().ofMaxSize(3), portMap())
                .as(Required::new);
        Arbitrary<Optionals> optionals = Combinators.combine(
                        text().list().ofMaxSize(2),
                        gateway().optional(0.3),
                        lb.optional(0.4),
                        enumOf(Map.of(
                                        "Dual",
                                        IPFamilies.DUAL,
                                        "IPv4",
                                        IPFamilies.IPV4_ONLY,
                                        "IPv6",
                                        IPFamilies.IPV6_ONLY))
                                .optional(0.4),
                        Arbitraries.of(true, false).optional(0.4))
                .as(Optionals::new);
        return Combinators.combine(required, optionals).as((req, opt) -> {
            String name = req.name();
            String namespace = req.namespace();
            String host = req.host();
            List<Spec> vips = req.vips();
            Map<Integer, Integer> ports = req.ports();
            List<String> sans = opt.sans();
            Optional<Spec> waypoint = opt.waypoint();
            Optional<Spec> loadBalancer = opt.loadBalancer();
            Optional<Map.Entry<String, IPFamilies>> families = opt.families();
            Optional<Boolean> canonical = opt.canonical();
            Map<String, Object> yaml = new LinkedHashMap<>();
            Service.Builder b =
                    Service.newBuilder().setName(name).setNamespace(namespace).setHostname(host);
            yaml.put("name", name);
            yaml.put("namespace", namespace);
            yaml.put("hostname", host);
            yaml.put("vips", vips.stream().map(Spec::yaml).toList());
            vips.forEach(v -> b.addAddresses((NetworkAddress) v.expected()));
            yaml.put("ports", yamlPorts(ports));
            b.addAllPorts(ports(ports));
            if (!sans.isEmpty()) {
                yaml.put("subjectAltNames", sans);
                b.addAllSubjectAltNames(sans);
            }
            waypoint.ifPresent(g -> {
                yaml.put("waypoint", g.yaml());
                b.setWaypoint((GatewayAddress) g.expected());
            });
            loadBalancer.ifPresent(l -> {
                yaml.put("loadBalancer", l.yaml());
                b.setLoadBalancing((LoadBalancing) l.expected());
            });
            families.ifPresent(f -> {
                yaml.put("ipFamilies", f.getKey());
                b.setIpFamilies(f.getValue());
            });
            canonical.ifPresent(c -> {
                yaml.put("canonical", c);
                b.setCanonical(c);
            });
            return new Spec(yaml, b);
        });
    }

    static Arbitrary<Spec> stringMatch() {
        return Arbitraries.oneOf(
                text().map(s -> new Spec(
                        Map.of("Exact", s), StringMatch.newBuilder().setExact(s).build())),
                text().map(s -> new Spec(
                        Map.of("Prefix", s),
                        StringMatch.newBuilder().setPrefix(s).build())),
                text().map(s -> new Spec(
                        Map.of("Suffix", s),
                        StringMatch.newBuilder().setSuffix(s).build())),
                Arbitraries.just(new Spec(
                        Map.of("Presence", List.of()),
                        StringMatch.newBuilder()
                                .setPresence(Empty.getDefaultInstance())
                                .build())));
    }

    static Arbitrary<Spec> cidr() {
        return ipBytes()
                .flatMap(ip -> Arbitraries.integers()
                        .between(0, ip.length * 8)
                        .map(len -> new Spec(
                                ipText(ip) + "/" + len,
                                io.ztunnel.xds.proto.security.Address.newBuilder()
                                        .setAddress(ByteString.copyFrom(ip))
                                        .setLength(len)
                                        .build())));
    }

    static Arbitrary<Spec> match() {
        Arbitrary<List<Spec>> strings = stringMatch().list().ofMaxSize(2);
        Arbitrary<List<Spec>> cidrs = cidr().list().ofMaxSize(2);
        Arbitrary<List<Integer>> portList =
                Arbitraries.integers().between(0, 65535).list().ofMaxSize(2);
        Arbitrary<List<Spec>> sas = Combinators.combine(text(), text())
                .as((ns, sa) -> new Spec(
                        Map.of("namespace", ns, "serviceAccount", sa),
                        ServiceAccountMatch.newBuilder()
                                .setNamespace(ns)
                                .setServiceAccount(sa)
                                .build()))
                .list()
                .ofMaxSize(2);
        return Combinators.combine(
                        Combinators.combine(strings, strings, strings, strings).as(List::of),
                        Combinators.combine(cidrs, cidrs, cidrs, cidrs).as(List::of),
                        Combinators.combine(portList, portList).as(List::of),
                        Combinators.combine(sas, sas).as(List::of))
                .as((s, c, p, a) -> {
                    Map<String, Object> yaml = new LinkedHashMap<>();
                    Match.Builder m = Match.newBuilder();
                    putSpecs(yaml, "namespaces", s.get(0), v -> m.addNamespaces((StringMatch) v));
                    putSpecs(yaml, "notNamespaces", s.get(1), v -> m.addNotNamespaces((StringMatch) v));
                    putSpecs(yaml, "principals", s.get(2), v -> m.addPrincipals((StringMatch) v));
                    putSpecs(yaml, "notPrincipals", s.get(3), v -> m.addNotPrincipals((StringMatch) v));
                    putSpecs(
                            yaml,
                            "sourceIps",
                            c.get(0),
                            v -> m.addSourceIps((io.ztunnel.xds.proto.security.Address) v));
                    putSpecs(
                            yaml,
                            "notSourceIps",
                            c.get(1),
                            v -> m.addNotSourceIps((io.ztunnel.xds.proto.security.Address) v));
                    putSpecs(
                            yaml,
                            "destinationIps",
                            c.get(2),
                            v -> m.addDestinationIps((io.ztunnel.xds.proto.security.Address) v));
                    putSpecs(
                            yaml,
                            "notDestinationIps",
                            c.get(3),
                            v -> m.addNotDestinationIps((io.ztunnel.xds.proto.security.Address) v));
                    putSpecs(yaml, "serviceAccounts", a.get(0), v -> m.addServiceAccounts((ServiceAccountMatch) v));
                    putSpecs(
                            yaml,
                            "notServiceAccounts",
                            a.get(1),
                            v -> m.addNotServiceAccounts((ServiceAccountMatch) v));
                    if (!p.get(0).isEmpty()) {
                        yaml.put("destinationPorts", p.get(0));
                        m.addAllDestinationPorts(p.get(0));
                    }
                    if (!p.get(1).isEmpty()) {
                        yaml.put("notDestinationPorts", p.get(1));
                        m.addAllNotDestinationPorts(p.get(1));
                    }
                    return new Spec(yaml, m.build());
                });
    }

    static void putSpecs(Map<String, Object> yaml, String key, List<Spec> specs, Consumer<Object> add) {
        if (!specs.isEmpty()) {
            yaml.put(key, specs.stream().map(Spec::yaml).toList());
            specs.forEach(s -> add.accept(s.expected()));
        }
    }

    static Arbitrary<Spec> policy() {
        Arbitrary<List<List<List<Spec>>>> rules =
                match().list().ofMaxSize(2).list().ofMaxSize(2).list().ofMaxSize(2);
        return Combinators.combine(
                        text(),
                        text(),
                        enumOf(Map.of(
                                "Global",
                                Scope.GLOBAL,
                                "Namespace",
                                Scope.NAMESPACE,
                                "WorkloadSelector",
                                Scope.WORKLOAD_SELECTOR)),
                        enumOf(Map.of("Allow", Action.ALLOW, "Deny", Action.DENY)),
                        Arbitraries.of(true, false),
                        rules)
                .as((name, namespace, scope, action, dryRun, ruleSpecs) -> {
                    Authorization.Builder b = Authorization.newBuilder()
                            .setName(name)
                            .setNamespace(namespace)
                            .setScope(scope.getValue())
                            .setAction(action.getValue())
                            .setDryRun(dryRun);
                    List<Object> yamlRules = new ArrayList<>();
                    for (List<List<Spec>> rule : ruleSpecs) {
                        Rule.Builder r = Rule.newBuilder();
                        List<Object> yamlRule = new ArrayList<>();
                        for (List<Spec> clause : rule) {
                            Clause.Builder c = Clause.newBuilder();
                            clause.forEach(m -> c.addMatches((Match) m.expected()));
                            yamlRule.add(clause.stream().map(Spec::yaml).toList());
                            r.addClauses(c);
                        }
                        yamlRules.add(yamlRule);
                        b.addRules(r);
                    }
                    Map<String, Object> yaml = new LinkedHashMap<>();
                    yaml.put("name", name);
                    yaml.put("namespace", namespace);
                    yaml.put("scope", scope.getKey());
                    yaml.put("action", action.getKey());
                    yaml.put("dryRun", dryRun);
                    yaml.put("rules", yamlRules);
                    return new Spec(yaml, b);
                });
    }

    /** A whole config: YAML tree and the expected {@link LocalConfig}. */
    @Provide
    Arbitrary<Spec> configs() {
        return Combinators.combine(
                        workload().list().ofMaxSize(4),
                        service().list().ofMaxSize(3),
                        policy().list().ofMaxSize(3))
                .as((ws, ss, ps) -> {
                    List<Object> yamlWorkloads = new ArrayList<>();
                    List<Address> workloads = new ArrayList<>();
                    for (int i = 0; i < ws.size(); i++) {
                        // Resource names must be unique: make uid unique by index.
                        @SuppressWarnings("unchecked")
                        Map<String, Object> y = new LinkedHashMap<>(
                                (Map<String, Object>) ws.get(i).yaml());
                        Workload.Builder b = ((Workload.Builder) ws.get(i).expected()).clone();
                        String uid = b.getUid() + "-" + i;
                        y.put("uid", uid);
                        b.setUid(uid);
                        yamlWorkloads.add(y);
                        workloads.add(Address.newBuilder().setWorkload(b).build());
                    }
                    List<Object> yamlServices = new ArrayList<>();
                    List<Address> services = new ArrayList<>();
                    for (int i = 0; i < ss.size(); i++) {
                        @SuppressWarnings("unchecked")
                        Map<String, Object> y = new LinkedHashMap<>(
                                (Map<String, Object>) ss.get(i).yaml());
                        Service.Builder b = ((Service.Builder) ss.get(i).expected()).clone();
                        String host = b.getHostname() + "-" + i;
                        y.put("hostname", host);
                        b.setHostname(host);
                        yamlServices.add(y);
                        services.add(Address.newBuilder().setService(b).build());
                    }
                    List<Object> yamlPolicies = new ArrayList<>();
                    List<Authorization> policies = new ArrayList<>();
                    for (int i = 0; i < ps.size(); i++) {
                        @SuppressWarnings("unchecked")
                        Map<String, Object> y = new LinkedHashMap<>(
                                (Map<String, Object>) ps.get(i).yaml());
                        Authorization.Builder b =
                                ((Authorization.Builder) ps.get(i).expected()).clone();
                        String name = b.getName() + "-" + i;
                        y.put("name", name);
                        b.setName(name);
                        yamlPolicies.add(y);
                        policies.add(b.build());
                    }
                    Map<String, Object> root = new LinkedHashMap<>();
                    root.put("workloads", yamlWorkloads);
                    root.put("services", yamlServices);
                    root.put("policies", yamlPolicies);
                    return new Spec(root, new LocalConfig(workloads, services, policies));
                });
    }

    @Property(tries = 300)
    void validConfigsRoundTrip(@ForAll("configs") Spec spec) throws Exception {
        String yaml = YAML.writeValueAsString(spec.yaml());
        LocalConfig parsed = LocalConfigParser.parse(yaml, "generated.yaml");
        assertThat(parsed).as(yaml).isEqualTo(spec.expected());
        Statistics.label("workloads").collect(Math.min(parsed.workloads().size(), 2));
        Statistics.label("policies with matches")
                .collect(parsed.policies().stream().anyMatch(p -> p.toString().contains("matches")));
    }

    // ----- garbage -------------------------------------------------------------------------------

    static void parsesOrFailsCleanly(String input) {
        try {
            LocalConfigParser.parse(input, "garbage");
        } catch (LocalConfigException e) {
            assertThat(e.getMessage()).startsWith("garbage: ");
            assertThat(e.reason()).isNotBlank();
            assertThat(e.line()).isNotNegative();
            assertThat(e.column()).isNotNegative();
        }
    }

    @Property(tries = 500)
    void arbitraryTextNeverThrowsAnythingElse(@ForAll @StringLength(max = 300) String input) {
        parsesOrFailsCleanly(input);
    }

    @Provide
    Arbitrary<String> mutatedConfigs() {
        Arbitrary<String> valid = configs().map(s -> {
            try {
                return YAML.writeValueAsString(s.yaml());
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        Arbitrary<String> noise = Arbitraries.strings()
                .withChars(" \n\t-:[]{}\"'#&*!|>,?%@`~0123456789abcxyz/.\\")
                .ofMaxLength(6);
        return Combinators.combine(
                        valid,
                        Arbitraries.integers().between(0, 10_000),
                        Arbitraries.integers().between(0, 8),
                        noise,
                        Arbitraries.integers().between(1, 4))
                .as((text, position, deleteLength, insert, times) -> {
                    String out = text;
                    for (int i = 0; i < times && !out.isEmpty(); i++) {
                        int at = (position * (i + 7)) % out.length();
                        int end = Math.min(out.length(), at + deleteLength);
                        out = out.substring(0, at) + insert + out.substring(end);
                    }
                    return out;
                });
    }

    @Property(tries = 500)
    void mutatedConfigsNeverThrowAnythingElse(@ForAll("mutatedConfigs") String input) {
        parsesOrFailsCleanly(input);
    }

    /** Random YAML trees using the schema's own keys, so deeper levels of the parser get hit. */
    @Provide
    Arbitrary<String> schemaShapedGarbage() {
        List<String> keys = List.of(
                "workloads",
                "services",
                "policies",
                "uid",
                "namespace",
                "workloadIps",
                "services",
                "waypoint",
                "destination",
                "hboneMtlsPort",
                "protocol",
                "locality",
                "region",
                "rules",
                "namespaces",
                "Exact",
                "Presence",
                "vips",
                "ports",
                "loadBalancer",
                "mode",
                "routingPreferences",
                "endpoints",
                "workloadUid",
                "port",
                "status",
                "applicationTunnel",
                "name",
                "hostname",
                "scope",
                "action",
                "dryRun",
                "sourceIps",
                "capacity",
                "80");
        Arbitrary<Object> scalar = Arbitraries.oneOf(
                Arbitraries.of(
                        "HBONE", "TCP", "Healthy", "Allow", "Global", "/1.2.3.4", "a/b", "10.0.0.0/8", "::1", "", "x"),
                Arbitraries.integers().between(-5, 70_000).map(i -> (Object) i),
                Arbitraries.of(true, false).map(b -> (Object) b),
                // YAML's null, written by the mapper as it writes a null map value.
                Arbitraries.just((Object) NullNode.getInstance()));
        Arbitrary<Object> tree = Arbitraries.recursive(
                () -> scalar,
                inner -> Arbitraries.oneOf(
                        inner.list().ofMaxSize(3).map(l -> (Object) l),
                        Arbitraries.maps(Arbitraries.of(keys), inner)
                                .ofMaxSize(4)
                                .map(m -> (Object) m)),
                0,
                6);
        return Arbitraries.maps(Arbitraries.of("workloads", "services", "policies"), tree)
                .ofMaxSize(3)
                .map(m -> {
                    try {
                        return YAML.writeValueAsString(m);
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                });
    }

    @Property(tries = 1000)
    void schemaShapedGarbageNeverThrowsAnythingElse(@ForAll("schemaShapedGarbage") String input) {
        parsesOrFailsCleanly(input);
    }
}
