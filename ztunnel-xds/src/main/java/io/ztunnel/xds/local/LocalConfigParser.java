package io.ztunnel.xds.local;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.UInt32Value;
import io.ztunnel.xds.ErrorText;
import io.ztunnel.xds.XdsResources;
import io.ztunnel.xds.local.YamlTree.Entry;
import io.ztunnel.xds.local.YamlTree.ListNode;
import io.ztunnel.xds.local.YamlTree.MapNode;
import io.ztunnel.xds.local.YamlTree.Mark;
import io.ztunnel.xds.local.YamlTree.Node;
import io.ztunnel.xds.local.YamlTree.ScalarKind;
import io.ztunnel.xds.local.YamlTree.ScalarNode;
import io.ztunnel.xds.proto.security.Action;
import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.security.Clause;
import io.ztunnel.xds.proto.security.Match;
import io.ztunnel.xds.proto.security.Rule;
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
import io.ztunnel.xds.proto.workload.WeightedWaypoint;
import io.ztunnel.xds.proto.workload.Workload;
import io.ztunnel.xds.proto.workload.WorkloadStatus;
import io.ztunnel.xds.proto.workload.WorkloadType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.jspecify.annotations.Nullable;

/**
 * Parses ztunnel's local config YAML ({@code LOCAL_XDS_PATH} file or {@code LOCAL_XDS} inline
 * text) into {@link LocalConfig}: the {@code istio.workload.Address} and {@code
 * istio.security.Authorization} protos that xDS would deliver for the same content.
 *
 * <h2>Schema</h2>
 *
 * The schema is upstream ztunnel's serde schema ({@code LocalConfig} in {@code src/xds.rs}, the
 * structs of {@code src/state/workload.rs}, {@code src/state/service.rs} and {@code src/rbac.rs}):
 * camelCase keys and serde's enum spellings. The top level is a mapping with optional keys
 * {@code workloads}, {@code services} and {@code policies}.
 *
 * <pre>{@code
 * workloads:
 * - uid: c1//v1/Pod/default/app          # optional; the xDS name (must be unique here)
 *   name: app                            # optional
 *   namespace: default                   # required
 *   workloadIps: ["10.0.0.5"]            # required (may be [])
 *   services: {"default/app.default.svc.cluster.local": {80: 8080}}   # required (may be {})
 *   serviceAccount: default              # optional, empty if omitted
 *   trustDomain: cluster.local           # optional, empty if omitted
 *   protocol: HBONE                      # TCP (default) | HBONE
 *   networkMode: Standard                # Standard (default) | HostNetwork
 *   status: Healthy                      # Healthy (default) | Unhealthy
 *   workloadType: deployment             # deployment | cronjob | pod | job (any case)
 *   waypoint: {destination: "ns/waypoint.ns.svc.cluster.local", hboneMtlsPort: 15008}
 *   networkGateway: {destination: "net1/1.2.3.4", hboneMtlsPort: 15008}
 *   applicationTunnel: {protocol: PROXY, port: 15088}     # protocol NONE | PROXY; port optional
 *   locality: {region: r, zone: z, subzone: s}            # all three required
 *   authorizationPolicies: ["ns/name"]
 *   network, node, hostname, workloadName, canonicalName, canonicalRevision, clusterId: strings
 *   nativeTunnel: false
 *   capacity: 1
 * services:
 * - name: app                            # name, namespace, hostname, vips, ports: required
 *   namespace: default
 *   hostname: app.default.svc.cluster.local
 *   vips: ["/10.96.0.10"]                # "<network>/<ip>"; the default network is empty
 *   ports: {80: 8080}
 *   subjectAltNames: ["spiffe://cluster.local/ns/default/sa/app"]
 *   waypoint: {destination: ..., hboneMtlsPort: 15008}
 *   weightedWaypoints: [{destination: {destination: ..., hboneMtlsPort: 15008}, weight: 90}]
 *   loadBalancer: {routingPreferences: [Region, Zone], mode: Failover, healthPolicy: OnlyHealthy}
 *   ipFamilies: Dual                     # Dual | IPv4 | IPv6 (omitted: automatic)
 *   visibility: Public                   # Public | Namespace
 *   canonical: true
 *   cidrVips: ["/10.10.0.0/16"]          # "<network>/<ip>/<prefix length>"
 *   endpoints: {"<uid>": {workloadUid: "<uid>", port: {80: 8080}, status: Healthy}}
 * policies:
 * - name: allow-ns                       # all six keys required
 *   namespace: default
 *   scope: Namespace                     # Global | Namespace | WorkloadSelector
 *   action: Allow                        # Allow | Deny
 *   dryRun: false
 *   rules: [[[{namespaces: [{Exact: default}], notDestinationPorts: [9999]}]]]
 * }</pre>
 *
 * <p>Rules are lists of clauses, clauses are lists of matches. Match keys: {@code namespaces},
 * {@code notNamespaces}, {@code principals}, {@code notPrincipals} (lists of StringMatch), {@code
 * serviceAccounts}, {@code notServiceAccounts} ({@code [{namespace, serviceAccount}]}), {@code
 * sourceIps}, {@code notSourceIps}, {@code destinationIps}, {@code notDestinationIps} (CIDR
 * strings such as {@code 10.0.0.0/8}), {@code destinationPorts}, {@code notDestinationPorts}.
 * A StringMatch is serde's externally tagged enum: {@code {Exact: s}}, {@code {Prefix: s}},
 * {@code {Suffix: s}} or {@code {Presence: []}} (the YAML tag forms {@code !Exact s} and {@code
 * !Presence []} are accepted as well).
 *
 * <h2>Conversion</h2>
 *
 * Workload IPs become 4- or 16-byte addresses, {@code protocol} becomes {@code tunnel_protocol},
 * port maps become {@code Port} lists sorted by service port, a gateway {@code destination} of the
 * form {@code <network>/<ip>} becomes a {@code NetworkAddress} and any other {@code a/b} a {@code
 * NamespacedHostname} (IP first, as upstream's untagged enum tries it). Service {@code endpoints}
 * have no field of their own in the proto; each one is folded into the referenced workload's
 * {@code services} map, which is how WDS expresses endpoint membership. Omitted fields keep proto
 * defaults (see {@link LocalConfig} for the WDS defaults the consumer applies).
 *
 * <h2>Errors</h2>
 *
 * Any problem raises one {@link LocalConfigException} naming the source, the line and column and
 * the field path, e.g. {@code line 7, column 5: workloads[0].protocl: unknown field (did you mean
 * "protocol"?)}. Unknown keys are rejected everywhere (upstream rejects them on most structs).
 * Where this parser is stricter than upstream, it is because the result would otherwise be lost
 * silently: duplicate workload uids, service names or policy names are rejected (upstream keeps
 * the last one), an empty document is rejected (write {@code {}} for an empty config; this
 * protects the file watcher from truncated writes), an unknown {@code workloadType} is rejected
 * (upstream keeps it as a free string, the proto has an enum), and a service endpoint must name a
 * workload in the same file.
 *
 * <p>Threading: stateless; {@link #parse} may be called concurrently from any thread.
 */
public final class LocalConfigParser {

    /** The source name used for inline YAML from the {@code LOCAL_XDS} environment variable. */
    public static final String INLINE_SOURCE = "LOCAL_XDS";

    private LocalConfigParser() {}

    /**
     * Reads and parses a local config file.
     *
     * @throws LocalConfigException if the file cannot be read or is not a valid local config; the
     *     source in the message is the file path
     */
    public static LocalConfig parseFile(Path file) throws LocalConfigException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new LocalConfigException(file.toString(), "cannot read file: " + ErrorText.of(e), e);
        }
        return parseBytes(bytes, file.toString());
    }

    /** Parses file content already read; {@code source} names it in errors. */
    static LocalConfig parseBytes(byte[] bytes, String source) throws LocalConfigException {
        String text;
        try {
            text = StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new LocalConfigException(source, "file is not valid UTF-8", e);
        }
        return parse(text, source);
    }

    /** Parses inline YAML (the {@code LOCAL_XDS} environment variable). */
    public static LocalConfig parseInline(String yaml) throws LocalConfigException {
        return parse(yaml, INLINE_SOURCE);
    }

    /**
     * Parses local config YAML.
     *
     * @param yaml the document
     * @param source what to call the document in error messages (a path, or {@code LOCAL_XDS})
     * @throws LocalConfigException on any problem, naming line, column and field path
     */
    public static LocalConfig parse(String yaml, String source) throws LocalConfigException {
        Node root;
        try {
            root = YamlTree.parse(yaml);
        } catch (YamlTree.SyntaxException e) {
            throw new LocalConfigException(source, e.mark().line(), e.mark().column(), "", e.reason());
        }
        if (root == null) {
            throw new LocalConfigException(
                    source, 0, 0, "", "empty document; write {} for a config with no workloads, services or policies");
        }
        return new Reader(source).config(root);
    }

    // ---------------------------------------------------------------------------------------------
    // Spellings, exactly as upstream's serde enums (case-sensitive).

    private static final Map<String, TunnelProtocol> PROTOCOLS =
            ordered("TCP", TunnelProtocol.NONE, "HBONE", TunnelProtocol.HBONE);
    private static final Map<String, NetworkMode> NETWORK_MODES =
            ordered("Standard", NetworkMode.STANDARD, "HostNetwork", NetworkMode.HOST_NETWORK);
    private static final Map<String, WorkloadStatus> STATUSES =
            ordered("Healthy", WorkloadStatus.HEALTHY, "Unhealthy", WorkloadStatus.UNHEALTHY);
    private static final Map<String, ApplicationTunnel.Protocol> TUNNEL_PROTOCOLS =
            ordered("NONE", ApplicationTunnel.Protocol.NONE, "PROXY", ApplicationTunnel.Protocol.PROXY);
    private static final Map<String, WorkloadType> WORKLOAD_TYPES = ordered(
            "deployment", WorkloadType.DEPLOYMENT,
            "cronjob", WorkloadType.CRONJOB,
            "pod", WorkloadType.POD,
            "job", WorkloadType.JOB);
    private static final Map<String, LoadBalancing.Scope> SCOPES = ordered(
            "Region", LoadBalancing.Scope.REGION,
            "Zone", LoadBalancing.Scope.ZONE,
            "Subzone", LoadBalancing.Scope.SUBZONE,
            "Node", LoadBalancing.Scope.NODE,
            "Cluster", LoadBalancing.Scope.CLUSTER,
            "Network", LoadBalancing.Scope.NETWORK);
    private static final Map<String, LoadBalancing.Mode> LB_MODES = ordered(
            "Standard", LoadBalancing.Mode.UNSPECIFIED_MODE,
            "Strict", LoadBalancing.Mode.STRICT,
            "Failover", LoadBalancing.Mode.FAILOVER,
            "Passthrough", LoadBalancing.Mode.PASSTHROUGH);
    private static final Map<String, LoadBalancing.HealthPolicy> HEALTH_POLICIES = ordered(
            "OnlyHealthy", LoadBalancing.HealthPolicy.ONLY_HEALTHY,
            "AllowAll", LoadBalancing.HealthPolicy.ALLOW_ALL);
    private static final Map<String, IPFamilies> IP_FAMILIES =
            ordered("Dual", IPFamilies.DUAL, "IPv4", IPFamilies.IPV4_ONLY, "IPv6", IPFamilies.IPV6_ONLY);
    private static final Map<String, Visibility> VISIBILITIES =
            ordered("Public", Visibility.PUBLIC, "Namespace", Visibility.NAMESPACE);
    private static final Map<String, Scope> POLICY_SCOPES = ordered(
            "Global", Scope.GLOBAL,
            "Namespace", Scope.NAMESPACE,
            "WorkloadSelector", Scope.WORKLOAD_SELECTOR);
    private static final Map<String, Action> ACTIONS = ordered("Allow", Action.ALLOW, "Deny", Action.DENY);

    // Known keys per struct.
    private static final Set<String> TOP_KEYS = keys("workloads", "services", "policies");
    private static final Set<String> WORKLOAD_KEYS = keys(
            "workloadIps",
            "waypoint",
            "networkGateway",
            "protocol",
            "networkMode",
            "uid",
            "name",
            "namespace",
            "trustDomain",
            "serviceAccount",
            "network",
            "workloadName",
            "workloadType",
            "canonicalName",
            "canonicalRevision",
            "hostname",
            "node",
            "nativeTunnel",
            "applicationTunnel",
            "authorizationPolicies",
            "status",
            "clusterId",
            "locality",
            "capacity",
            "services");
    private static final Set<String> GATEWAY_KEYS = keys("destination", "hboneMtlsPort");
    private static final Set<String> APP_TUNNEL_KEYS = keys("protocol", "port");
    private static final Set<String> LOCALITY_KEYS = keys("region", "zone", "subzone");
    private static final Set<String> SERVICE_KEYS = keys(
            "name",
            "namespace",
            "hostname",
            "vips",
            "ports",
            "endpoints",
            "subjectAltNames",
            "waypoint",
            "loadBalancer",
            "ipFamilies",
            "weightedWaypoints",
            "canonical",
            "visibility",
            "cidrVips");
    private static final Set<String> LB_KEYS = keys("routingPreferences", "mode", "healthPolicy");
    private static final Set<String> WEIGHTED_KEYS = keys("destination", "weight");
    private static final Set<String> ENDPOINT_KEYS = keys("workloadUid", "port", "status");
    private static final Set<String> POLICY_KEYS = keys("name", "namespace", "scope", "action", "rules", "dryRun");
    private static final Set<String> MATCH_KEYS = keys(
            "namespaces",
            "notNamespaces",
            "serviceAccounts",
            "notServiceAccounts",
            "principals",
            "notPrincipals",
            "sourceIps",
            "notSourceIps",
            "destinationIps",
            "notDestinationIps",
            "destinationPorts",
            "notDestinationPorts");
    private static final Set<String> SA_MATCH_KEYS = keys("namespace", "serviceAccount");
    private static final Set<String> STRING_MATCH_KINDS = keys("Exact", "Prefix", "Suffix", "Presence");

    private static Set<String> keys(String... names) {
        return new LinkedHashSet<>(List.of(names));
    }

    @SuppressWarnings("unchecked")
    private static <E> Map<String, E> ordered(Object... pairs) {
        Map<String, E> map = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            map.put((String) pairs[i], (E) pairs[i + 1]);
        }
        return map;
    }

    // ---------------------------------------------------------------------------------------------

    /** One parse: walks the tree with the current field path; not shared between threads. */
    private static final class Reader {
        private final String source;

        Reader(String source) {
            this.source = source;
        }

        LocalConfigException error(Mark mark, String path, String reason) {
            return new LocalConfigException(source, mark.line(), mark.column(), path, reason);
        }

        LocalConfigException error(Node node, String path, String reason) {
            return error(node.mark(), path, reason);
        }

        // ----- top level ---------------------------------------------------------------------------

        LocalConfig config(Node root) throws LocalConfigException {
            Obj top = object(root, "");
            List<Workload.Builder> workloads = new ArrayList<>();
            Map<String, Integer> workloadIndexByUid = new HashMap<>();
            List<Address> services = new ArrayList<>();
            Map<String, Integer> serviceIndexByName = new HashMap<>();
            List<Authorization> policies = new ArrayList<>();
            Map<String, Integer> policyIndexByName = new HashMap<>();

            Node workloadList = top.optional("workloads");
            if (workloadList != null) {
                List<Node> items = list(workloadList, "workloads");
                for (int i = 0; i < items.size(); i++) {
                    String path = "workloads[" + i + "]";
                    Workload.Builder w = workload(items.get(i), path);
                    Integer previous = workloadIndexByUid.putIfAbsent(w.getUid(), i);
                    if (previous != null) {
                        throw error(
                                items.get(i),
                                path + ".uid",
                                "duplicate uid \""
                                        + w.getUid()
                                        + "\" (also used by workloads["
                                        + previous
                                        + "]); every workload needs its own uid");
                    }
                    workloads.add(w);
                }
            }

            // Services are read after workloads so that their endpoints can refer to them.
            Node serviceList = top.optional("services");
            if (serviceList != null) {
                List<Node> items = list(serviceList, "services");
                for (int i = 0; i < items.size(); i++) {
                    String path = "services[" + i + "]";
                    Service s = service(items.get(i), path, workloads, workloadIndexByUid);
                    Address address = Address.newBuilder().setService(s).build();
                    String name = XdsResources.nameOf(address);
                    Integer previous = serviceIndexByName.putIfAbsent(name, i);
                    if (previous != null) {
                        throw error(
                                items.get(i),
                                path,
                                "duplicate service \"" + name + "\" (also defined by services[" + previous + "])");
                    }
                    services.add(address);
                }
            }

            Node policyList = top.optional("policies");
            if (policyList != null) {
                List<Node> items = list(policyList, "policies");
                for (int i = 0; i < items.size(); i++) {
                    String path = "policies[" + i + "]";
                    Authorization p = policy(items.get(i), path);
                    String name = XdsResources.nameOf(p);
                    Integer previous = policyIndexByName.putIfAbsent(name, i);
                    if (previous != null) {
                        throw error(
                                items.get(i),
                                path,
                                "duplicate policy \"" + name + "\" (also defined by policies[" + previous + "])");
                    }
                    policies.add(p);
                }
            }

            List<Address> workloadAddresses = new ArrayList<>(workloads.size());
            for (Workload.Builder w : workloads) {
                workloadAddresses.add(Address.newBuilder().setWorkload(w).build());
            }
            return new LocalConfig(workloadAddresses, services, policies);
        }

        // ----- workloads ---------------------------------------------------------------------------

        Workload.Builder workload(Node node, String path) throws LocalConfigException {
            Obj o = object(node, path, WORKLOAD_KEYS);
            Workload.Builder w = Workload.newBuilder();
            w.setNamespace(string(o.required("namespace"), o.path("namespace")));
            for (IndexedNode ip : o.requiredList("workloadIps")) {
                w.addAddresses(ByteString.copyFrom(ip(ip.node(), ip.path())));
            }
            Node services = o.required("services");
            for (Entry e : map(services, o.path("services")).entries()) {
                String svcPath = o.path("services") + "[" + quote(e.key()) + "]";
                if (e.key().indexOf('/') < 0) {
                    throw error(e.keyMark(), svcPath, "service key must be \"<namespace>/<hostname>\"");
                }
                w.putServices(
                        e.key(),
                        PortList.newBuilder()
                                .addAllPorts(portMap(e.value(), svcPath))
                                .build());
            }
            o.ifPresent("uid", n -> w.setUid(string(n, o.path("uid"))));
            o.ifPresent("name", n -> w.setName(string(n, o.path("name"))));
            o.ifPresent("trustDomain", n -> w.setTrustDomain(string(n, o.path("trustDomain"))));
            o.ifPresent("serviceAccount", n -> w.setServiceAccount(string(n, o.path("serviceAccount"))));
            o.ifPresent("network", n -> w.setNetwork(string(n, o.path("network"))));
            o.ifPresent("workloadName", n -> w.setWorkloadName(string(n, o.path("workloadName"))));
            o.ifPresent("workloadType", n -> {
                String raw = string(n, o.path("workloadType"));
                WorkloadType type = WORKLOAD_TYPES.get(raw.toLowerCase(Locale.ROOT));
                if (type == null) {
                    throw error(
                            n,
                            o.path("workloadType"),
                            "unknown workload type \"" + raw + "\" (expected one of: deployment, cronjob, pod, job)");
                }
                w.setWorkloadType(type);
            });
            o.ifPresent("canonicalName", n -> w.setCanonicalName(string(n, o.path("canonicalName"))));
            o.ifPresent("canonicalRevision", n -> w.setCanonicalRevision(string(n, o.path("canonicalRevision"))));
            o.ifPresent("hostname", n -> w.setHostname(string(n, o.path("hostname"))));
            o.ifPresent("node", n -> w.setNode(string(n, o.path("node"))));
            o.ifPresent("clusterId", n -> w.setClusterId(string(n, o.path("clusterId"))));
            o.ifPresent("protocol", n -> w.setTunnelProtocol(enumValue(n, o.path("protocol"), PROTOCOLS)));
            o.ifPresent("networkMode", n -> w.setNetworkMode(enumValue(n, o.path("networkMode"), NETWORK_MODES)));
            o.ifPresent("status", n -> w.setStatus(enumValue(n, o.path("status"), STATUSES)));
            o.ifPresent("nativeTunnel", n -> w.setNativeTunnel(bool(n, o.path("nativeTunnel"))));
            o.ifPresent("waypoint", n -> w.setWaypoint(gateway(n, o.path("waypoint"))));
            o.ifPresent("networkGateway", n -> w.setNetworkGateway(gateway(n, o.path("networkGateway"))));
            o.ifPresent(
                    "applicationTunnel",
                    n -> w.setApplicationTunnel(applicationTunnel(n, o.path("applicationTunnel"))));
            o.ifPresent("authorizationPolicies", n -> {
                for (IndexedNode p : items(n, o.path("authorizationPolicies"))) {
                    w.addAuthorizationPolicies(string(p.node(), p.path()));
                }
            });
            o.ifPresent("locality", n -> w.setLocality(locality(n, o.path("locality"))));
            o.ifPresent("capacity", n -> w.setCapacity(UInt32Value.of((int) u32(n, o.path("capacity")))));
            return w;
        }

        GatewayAddress gateway(Node node, String path) throws LocalConfigException {
            Obj o = object(node, path, GATEWAY_KEYS);
            GatewayAddress.Builder g = GatewayAddress.newBuilder();
            Node dest = o.required("destination");
            String text = string(dest, o.path("destination"));
            int slash = text.indexOf('/');
            if (slash < 0) {
                throw error(
                        dest,
                        o.path("destination"),
                        "expected \"<network>/<ip>\" or \"<namespace>/<hostname>\", got \"" + text + "\"");
            }
            byte[] ip = IpLiteral.parse(text.substring(slash + 1));
            if (ip != null) {
                g.setAddress(NetworkAddress.newBuilder()
                        .setNetwork(text.substring(0, slash))
                        .setAddress(ByteString.copyFrom(ip)));
            } else {
                g.setHostname(NamespacedHostname.newBuilder()
                        .setNamespace(text.substring(0, slash))
                        .setHostname(text.substring(slash + 1)));
            }
            g.setHboneMtlsPort(u16(o.required("hboneMtlsPort"), o.path("hboneMtlsPort")));
            return g.build();
        }

        ApplicationTunnel applicationTunnel(Node node, String path) throws LocalConfigException {
            Obj o = object(node, path, APP_TUNNEL_KEYS);
            ApplicationTunnel.Builder t = ApplicationTunnel.newBuilder();
            t.setProtocol(enumValue(o.required("protocol"), o.path("protocol"), TUNNEL_PROTOCOLS));
            o.ifPresent("port", n -> t.setPort(u16(n, o.path("port"))));
            return t.build();
        }

        Locality locality(Node node, String path) throws LocalConfigException {
            Obj o = object(node, path, LOCALITY_KEYS);
            return Locality.newBuilder()
                    .setRegion(string(o.required("region"), o.path("region")))
                    .setZone(string(o.required("zone"), o.path("zone")))
                    .setSubzone(string(o.required("subzone"), o.path("subzone")))
                    .build();
        }

        // ----- services ----------------------------------------------------------------------------

        Service service(
                Node node, String path, List<Workload.Builder> workloads, Map<String, Integer> workloadIndexByUid)
                throws LocalConfigException {
            Obj o = object(node, path, SERVICE_KEYS);
            Service.Builder s = Service.newBuilder();
            s.setName(string(o.required("name"), o.path("name")));
            s.setNamespace(string(o.required("namespace"), o.path("namespace")));
            s.setHostname(string(o.required("hostname"), o.path("hostname")));
            for (IndexedNode vip : o.requiredList("vips")) {
                s.addAddresses(networkAddress(vip.node(), vip.path()));
            }
            s.addAllPorts(portMap(o.required("ports"), o.path("ports")));
            o.ifPresent("cidrVips", n -> {
                for (IndexedNode vip : items(n, o.path("cidrVips"))) {
                    s.addAddresses(cidrVip(vip.node(), vip.path()));
                }
            });
            o.ifPresent("subjectAltNames", n -> {
                for (IndexedNode san : items(n, o.path("subjectAltNames"))) {
                    s.addSubjectAltNames(string(san.node(), san.path()));
                }
            });
            o.ifPresent("waypoint", n -> s.setWaypoint(gateway(n, o.path("waypoint"))));
            o.ifPresent("weightedWaypoints", n -> {
                for (IndexedNode ww : items(n, o.path("weightedWaypoints"))) {
                    Obj wo = object(ww.node(), ww.path(), WEIGHTED_KEYS);
                    s.addWeightedWaypoints(WeightedWaypoint.newBuilder()
                            .setDestination(gateway(wo.required("destination"), wo.path("destination")))
                            .setWeight((int) u32(wo.required("weight"), wo.path("weight"))));
                }
            });
            o.ifPresent("loadBalancer", n -> s.setLoadBalancing(loadBalancer(n, o.path("loadBalancer"))));
            o.ifPresent("ipFamilies", n -> s.setIpFamilies(enumValue(n, o.path("ipFamilies"), IP_FAMILIES)));
            o.ifPresent("visibility", n -> s.setVisibility(enumValue(n, o.path("visibility"), VISIBILITIES)));
            o.ifPresent("canonical", n -> s.setCanonical(bool(n, o.path("canonical"))));
            Service built = s.build();
            o.ifPresent("endpoints", n -> endpoints(n, o.path("endpoints"), built, workloads, workloadIndexByUid));
            return built;
        }

        NetworkAddress networkAddress(Node node, String path) throws LocalConfigException {
            String text = string(node, path);
            int slash = text.indexOf('/');
            byte[] ip = slash < 0 ? null : IpLiteral.parse(text.substring(slash + 1));
            if (ip == null) {
                throw error(
                        node,
                        path,
                        "expected \"<network>/<ip>\" (e.g. \"/10.0.0.1\" on the default network), got \""
                                + text
                                + "\"");
            }
            return NetworkAddress.newBuilder()
                    .setNetwork(text.substring(0, slash))
                    .setAddress(ByteString.copyFrom(ip))
                    .build();
        }

        NetworkAddress cidrVip(Node node, String path) throws LocalConfigException {
            String text = string(node, path);
            int slash = text.indexOf('/');
            IpLiteral.Cidr cidr = slash < 0 ? null : IpLiteral.parseCidr(text.substring(slash + 1));
            if (cidr == null) {
                throw error(
                        node,
                        path,
                        "expected \"<network>/<ip>/<prefix length>\" (e.g. \"/10.10.0.0/16\"), got \"" + text + "\"");
            }
            return NetworkAddress.newBuilder()
                    .setNetwork(text.substring(0, slash))
                    .setAddress(ByteString.copyFrom(cidr.address()))
                    .setLength(cidr.prefixLength())
                    .build();
        }

        LoadBalancing loadBalancer(Node node, String path) throws LocalConfigException {
            Obj o = object(node, path, LB_KEYS);
            LoadBalancing.Builder lb = LoadBalancing.newBuilder();
            for (IndexedNode pref : o.requiredList("routingPreferences")) {
                lb.addRoutingPreference(enumValue(pref.node(), pref.path(), SCOPES));
            }
            lb.setMode(enumValue(o.required("mode"), o.path("mode"), LB_MODES));
            lb.setHealthPolicy(enumValue(o.required("healthPolicy"), o.path("healthPolicy"), HEALTH_POLICIES));
            return lb.build();
        }

        /** Folds {@code endpoints} into the referenced workloads' {@code services} maps. */
        void endpoints(
                Node node,
                String path,
                Service service,
                List<Workload.Builder> workloads,
                Map<String, Integer> workloadIndexByUid)
                throws LocalConfigException {
            String serviceKey = service.getNamespace() + "/" + service.getHostname();
            for (Entry e : map(node, path).entries()) {
                String epPath = path + "[" + quote(e.key()) + "]";
                Obj ep = object(e.value(), epPath, ENDPOINT_KEYS);
                Node uidNode = ep.required("workloadUid");
                String uid = string(uidNode, ep.path("workloadUid"));
                if (!uid.equals(e.key())) {
                    throw error(
                            uidNode,
                            ep.path("workloadUid"),
                            "workloadUid \"" + uid + "\" differs from its key \"" + e.key() + "\"");
                }
                List<Port> ports = portMap(ep.required("port"), ep.path("port"));
                Node statusNode = ep.required("status");
                WorkloadStatus status = enumValue(statusNode, ep.path("status"), STATUSES);
                Integer index = workloadIndexByUid.get(uid);
                if (index == null) {
                    throw error(e.keyMark(), epPath, "no workload with uid \"" + uid + "\" in this config");
                }
                Workload.Builder w = workloads.get(index);
                if (w.getStatus() != status) {
                    throw error(
                            statusNode,
                            ep.path("status"),
                            "endpoint status "
                                    + spelling(STATUSES, status)
                                    + " differs from workloads["
                                    + index
                                    + "].status "
                                    + spelling(STATUSES, w.getStatus()));
                }
                PortList portList = PortList.newBuilder().addAllPorts(ports).build();
                PortList existing = w.getServicesMap().get(serviceKey);
                if (existing != null && !existing.equals(portList)) {
                    throw error(
                            e.keyMark(),
                            epPath,
                            "conflicts with workloads["
                                    + index
                                    + "].services[\""
                                    + serviceKey
                                    + "\"], which maps different ports");
                }
                w.putServices(serviceKey, portList);
            }
        }

        // ----- policies ----------------------------------------------------------------------------

        Authorization policy(Node node, String path) throws LocalConfigException {
            Obj o = object(node, path, POLICY_KEYS);
            Authorization.Builder a = Authorization.newBuilder();
            a.setName(string(o.required("name"), o.path("name")));
            a.setNamespace(string(o.required("namespace"), o.path("namespace")));
            a.setScope(enumValue(o.required("scope"), o.path("scope"), POLICY_SCOPES));
            a.setAction(enumValue(o.required("action"), o.path("action"), ACTIONS));
            a.setDryRun(bool(o.required("dryRun"), o.path("dryRun")));
            for (IndexedNode rule : o.requiredList("rules")) {
                Rule.Builder r = Rule.newBuilder();
                for (IndexedNode clause : items(rule.node(), rule.path())) {
                    Clause.Builder c = Clause.newBuilder();
                    for (IndexedNode m : items(clause.node(), clause.path())) {
                        c.addMatches(match(m.node(), m.path()));
                    }
                    r.addClauses(c);
                }
                a.addRules(r);
            }
            return a.build();
        }

        Match match(Node node, String path) throws LocalConfigException {
            Obj o = object(node, path, MATCH_KEYS);
            Match.Builder m = Match.newBuilder();
            o.eachItem("namespaces", (n, p) -> m.addNamespaces(stringMatch(n, p)));
            o.eachItem("notNamespaces", (n, p) -> m.addNotNamespaces(stringMatch(n, p)));
            o.eachItem("principals", (n, p) -> m.addPrincipals(stringMatch(n, p)));
            o.eachItem("notPrincipals", (n, p) -> m.addNotPrincipals(stringMatch(n, p)));
            o.eachItem("serviceAccounts", (n, p) -> m.addServiceAccounts(serviceAccountMatch(n, p)));
            o.eachItem("notServiceAccounts", (n, p) -> m.addNotServiceAccounts(serviceAccountMatch(n, p)));
            o.eachItem("sourceIps", (n, p) -> m.addSourceIps(cidr(n, p)));
            o.eachItem("notSourceIps", (n, p) -> m.addNotSourceIps(cidr(n, p)));
            o.eachItem("destinationIps", (n, p) -> m.addDestinationIps(cidr(n, p)));
            o.eachItem("notDestinationIps", (n, p) -> m.addNotDestinationIps(cidr(n, p)));
            o.eachItem("destinationPorts", (n, p) -> m.addDestinationPorts(u16(n, p)));
            o.eachItem("notDestinationPorts", (n, p) -> m.addNotDestinationPorts(u16(n, p)));
            return m.build();
        }

        StringMatch stringMatch(Node node, String path) throws LocalConfigException {
            // Tag form, e.g. `!Exact foo` or `!Presence []`.
            String tag = switch (node) {
                case ScalarNode s -> s.tag();
                case ListNode l -> l.tag();
                case MapNode ignored -> null;
            };
            if (tag != null) {
                String kind = tag.startsWith("!") ? tag.substring(1) : tag;
                if (!STRING_MATCH_KINDS.contains(kind)) {
                    throw error(
                            node,
                            path,
                            "unknown StringMatch tag !" + kind + " (expected !Exact, !Prefix, !Suffix or !Presence)");
                }
                Node untagged = switch (node) {
                    case ScalarNode s -> new ScalarNode(s.mark(), s.kind(), s.text(), null);
                    case ListNode l -> new ListNode(l.mark(), l.items(), null);
                    case MapNode m -> m;
                };
                return stringMatchOf(kind, untagged, path);
            }
            if (!(node instanceof MapNode mapNode)) {
                throw error(
                        node,
                        path,
                        "expected a StringMatch such as {Exact: \"...\"}, {Prefix: \"...\"}, {Suffix: \"...\"} or {Presence: []}, got "
                                + node.describe());
            }
            if (mapNode.entries().size() != 1) {
                throw error(
                        node,
                        path,
                        "a StringMatch has exactly one of Exact, Prefix, Suffix or Presence, got "
                                + mapNode.entries().size()
                                + " keys");
            }
            Entry e = mapNode.entries().getFirst();
            if (!STRING_MATCH_KINDS.contains(e.key())) {
                throw error(
                        e.keyMark(),
                        path + "." + e.key(),
                        "unknown StringMatch variant" + suggestion(e.key(), STRING_MATCH_KINDS)
                                + " (expected Exact, Prefix, Suffix or Presence)");
            }
            return stringMatchOf(e.key(), e.value(), path + "." + e.key());
        }

        private StringMatch stringMatchOf(String kind, Node value, String path) throws LocalConfigException {
            return switch (kind) {
                case "Exact" ->
                    StringMatch.newBuilder().setExact(string(value, path)).build();
                case "Prefix" ->
                    StringMatch.newBuilder().setPrefix(string(value, path)).build();
                case "Suffix" ->
                    StringMatch.newBuilder().setSuffix(string(value, path)).build();
                default -> {
                    boolean empty = (value instanceof ListNode l && l.items().isEmpty())
                            || (value instanceof ScalarNode s && s.kind() == ScalarKind.NULL);
                    if (!empty) {
                        throw error(
                                value, path, "Presence takes no value: write {Presence: []}, got " + value.describe());
                    }
                    yield StringMatch.newBuilder()
                            .setPresence(Empty.getDefaultInstance())
                            .build();
                }
            };
        }

        ServiceAccountMatch serviceAccountMatch(Node node, String path) throws LocalConfigException {
            Obj o = object(node, path, SA_MATCH_KEYS);
            return ServiceAccountMatch.newBuilder()
                    .setNamespace(string(o.required("namespace"), o.path("namespace")))
                    .setServiceAccount(string(o.required("serviceAccount"), o.path("serviceAccount")))
                    .build();
        }

        io.ztunnel.xds.proto.security.Address cidr(Node node, String path) throws LocalConfigException {
            String text = string(node, path);
            IpLiteral.Cidr cidr = IpLiteral.parseCidr(text);
            if (cidr == null) {
                throw error(node, path, "expected a CIDR such as \"10.0.0.0/8\" or \"fd00::/8\", got \"" + text + "\"");
            }
            return io.ztunnel.xds.proto.security.Address.newBuilder()
                    .setAddress(ByteString.copyFrom(cidr.address()))
                    .setLength(cidr.prefixLength())
                    .build();
        }

        // ----- primitives --------------------------------------------------------------------------

        List<Port> portMap(Node node, String path) throws LocalConfigException {
            MapNode m = map(node, path);
            TreeMap<Integer, Port> sorted = new TreeMap<>();
            for (Entry e : m.entries()) {
                String portPath = path + "[" + e.key() + "]";
                int servicePort = u16Text(e.key(), e.keyMark(), portPath);
                int targetPort = u16(e.value(), portPath);
                if (sorted.containsKey(servicePort)) {
                    throw error(e.keyMark(), portPath, "duplicate port " + servicePort);
                }
                sorted.put(
                        servicePort,
                        Port.newBuilder()
                                .setServicePort(servicePort)
                                .setTargetPort(targetPort)
                                .build());
            }
            return new ArrayList<>(sorted.values());
        }

        byte[] ip(Node node, String path) throws LocalConfigException {
            String text = string(node, path);
            byte[] ip = IpLiteral.parse(text);
            if (ip == null) {
                throw error(
                        node, path, "expected an IP address such as \"10.0.0.1\" or \"fd00::1\", got \"" + text + "\"");
            }
            return ip;
        }

        MapNode map(Node node, String path) throws LocalConfigException {
            if (node instanceof MapNode m) {
                return m;
            }
            throw error(node, path, "expected a mapping, got " + node.describe());
        }

        List<Node> list(Node node, String path) throws LocalConfigException {
            if (node instanceof ListNode l) {
                if (l.tag() != null) {
                    throw error(node, path, "YAML tag !" + l.tag() + " is not supported here");
                }
                return l.items();
            }
            throw error(node, path, "expected a list, got " + node.describe());
        }

        List<IndexedNode> items(Node node, String path) throws LocalConfigException {
            List<Node> nodes = list(node, path);
            List<IndexedNode> out = new ArrayList<>(nodes.size());
            for (int i = 0; i < nodes.size(); i++) {
                out.add(new IndexedNode(nodes.get(i), path + "[" + i + "]"));
            }
            return out;
        }

        ScalarNode scalar(Node node, String path, String expected) throws LocalConfigException {
            if (node instanceof ScalarNode s) {
                if (s.tag() != null) {
                    throw error(node, path, "YAML tag !" + s.tag() + " is not supported here");
                }
                return s;
            }
            throw error(node, path, "expected " + expected + ", got " + node.describe());
        }

        /** A string; plain numbers and booleans are taken as their text, null is refused. */
        String string(Node node, String path) throws LocalConfigException {
            ScalarNode s = scalar(node, path, "a string");
            if (s.kind() == ScalarKind.NULL) {
                throw error(node, path, "expected a string, got null");
            }
            return s.text();
        }

        boolean bool(Node node, String path) throws LocalConfigException {
            ScalarNode s = scalar(node, path, "a boolean (true or false)");
            if (s.kind() != ScalarKind.BOOL) {
                throw error(node, path, "expected a boolean (true or false), got " + s.describe());
            }
            return Boolean.parseBoolean(s.text().toLowerCase(Locale.ROOT));
        }

        int u16(Node node, String path) throws LocalConfigException {
            return (int) unsigned(node, path, 0xFFFF);
        }

        long u32(Node node, String path) throws LocalConfigException {
            return unsigned(node, path, 0xFFFF_FFFFL);
        }

        private long unsigned(Node node, String path, long max) throws LocalConfigException {
            String expected = "an integer from 0 to " + max;
            ScalarNode s = scalar(node, path, expected);
            if (s.kind() != ScalarKind.INT) {
                throw error(node, path, "expected " + expected + ", got " + s.describe());
            }
            Long value = parseInteger(s.text());
            if (value == null || value < 0 || value > max) {
                throw error(node, path, "expected " + expected + ", got " + s.text());
            }
            return value;
        }

        int u16Text(String text, Mark mark, String path) throws LocalConfigException {
            Long value = parseInteger(text);
            if (value == null || value < 0 || value > 0xFFFF) {
                throw error(mark, path, "expected a port number from 0 to 65535, got \"" + text + "\"");
            }
            return value.intValue();
        }

        <E> E enumValue(Node node, String path, Map<String, E> spellings) throws LocalConfigException {
            String expected = "one of " + String.join(", ", spellings.keySet());
            ScalarNode s = scalar(node, path, expected);
            E value = s.kind() == ScalarKind.STRING ? spellings.get(s.text()) : null;
            if (value == null) {
                throw error(
                        node,
                        path,
                        "unknown value "
                                + (s.kind() == ScalarKind.STRING ? "\"" + s.text() + "\"" : s.describe())
                                + suggestion(s.text(), spellings.keySet())
                                + " (expected "
                                + expected
                                + ")");
            }
            return value;
        }

        Obj object(Node node, String path) throws LocalConfigException {
            return object(node, path, TOP_KEYS);
        }

        /** Checks the node is a mapping whose keys are all known; reports the first unknown key. */
        Obj object(Node node, String path, Set<String> known) throws LocalConfigException {
            MapNode m = map(node, path);
            for (Entry e : m.entries()) {
                if (!known.contains(e.key())) {
                    throw error(e.keyMark(), join(path, e.key()), "unknown field" + suggestion(e.key(), known));
                }
            }
            return new Obj(m, path);
        }

        /** A mapping being read; keys have already been checked against the schema. */
        final class Obj {
            private final MapNode map;
            private final String path;

            Obj(MapNode map, String path) {
                this.map = map;
                this.path = path;
            }

            String path(String key) {
                return join(path, key);
            }

            /** The value, or null if the key is absent or its value is null (serde's default). */
            @Nullable
            Node optional(String key) {
                Entry e = map.byKey().get(key);
                if (e == null
                        || (e.value() instanceof ScalarNode s && s.kind() == ScalarKind.NULL && s.tag() == null)) {
                    return null;
                }
                return e.value();
            }

            Node required(String key) throws LocalConfigException {
                Entry e = map.byKey().get(key);
                if (e == null) {
                    throw error(map, path.isEmpty() ? key : path, missingMessage(key));
                }
                return e.value();
            }

            private String missingMessage(String key) {
                return path.isEmpty() ? "missing required field" : "missing required field \"" + key + "\"";
            }

            List<IndexedNode> requiredList(String key) throws LocalConfigException {
                return items(required(key), path(key));
            }

            void ifPresent(String key, NodeConsumer action) throws LocalConfigException {
                Node n = optional(key);
                if (n != null) {
                    action.accept(n);
                }
            }

            void eachItem(String key, ItemConsumer action) throws LocalConfigException {
                Node n = optional(key);
                if (n != null) {
                    for (IndexedNode item : items(n, path(key))) {
                        action.accept(item.node(), item.path());
                    }
                }
            }
        }
    }

    /** A list element together with its field path. */
    private record IndexedNode(Node node, String path) {}

    @FunctionalInterface
    private interface NodeConsumer {
        void accept(Node node) throws LocalConfigException;
    }

    @FunctionalInterface
    private interface ItemConsumer {
        void accept(Node node, String path) throws LocalConfigException;
    }

    // ---------------------------------------------------------------------------------------------

    private static String join(String path, String key) {
        return path.isEmpty() ? key : path + "." + key;
    }

    private static String quote(String key) {
        return "\"" + YamlTree.abbreviate(key).replace("\"", "\\\"") + "\"";
    }

    private static <E> String spelling(Map<String, E> spellings, E value) {
        return spellings.entrySet().stream()
                .filter(e -> e.getValue().equals(value))
                .map(Map.Entry::getKey)
                .findFirst()
                .orElse(String.valueOf(value));
    }

    /** Parses a YAML integer as Jackson presents it: decimal, optionally signed, or 0x/0o forms. */
    private static @Nullable Long parseInteger(String text) {
        String t = text.replace("_", "");
        int sign = 1;
        if (t.startsWith("+") || t.startsWith("-")) {
            sign = t.startsWith("-") ? -1 : 1;
            t = t.substring(1);
        }
        int radix = 10;
        if (t.startsWith("0x") || t.startsWith("0X")) {
            radix = 16;
            t = t.substring(2);
        } else if (t.startsWith("0o")) {
            radix = 8;
            t = t.substring(2);
        }
        if (t.isEmpty() || t.length() > 20) {
            return null;
        }
        try {
            return sign * Long.parseLong(t, radix);
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** " (did you mean "x"?)" when a known name is within a small edit distance, else "". */
    static String suggestion(String got, Set<String> known) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String candidate : known) {
            int d = editDistance(got.toLowerCase(Locale.ROOT), candidate.toLowerCase(Locale.ROOT));
            if (d < bestDistance) {
                bestDistance = d;
                best = candidate;
            }
        }
        int allowed = best == null ? 0 : best.length() <= 3 ? 1 : best.length() <= 6 ? 2 : 3;
        if (best != null && bestDistance <= allowed) {
            return " (did you mean \"" + best + "\"?)";
        }
        return "";
    }

    private static int editDistance(String a, String b) {
        if (Math.abs(a.length() - b.length()) > 3 || a.length() > 64 || b.length() > 64) {
            return Integer.MAX_VALUE;
        }
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] swap = prev;
            prev = cur;
            cur = swap;
        }
        return prev[b.length()];
    }
}
