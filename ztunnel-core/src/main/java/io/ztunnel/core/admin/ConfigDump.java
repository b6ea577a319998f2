package io.ztunnel.core.admin;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.identity.Pem;
import io.ztunnel.core.identity.WorkloadCertificate;
import io.ztunnel.core.state.Authorization;
import io.ztunnel.core.state.Cidr;
import io.ztunnel.core.state.GatewayAddress;
import io.ztunnel.core.state.Locality;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Renders {@code /config_dump}. Workloads, services and policies are written in the {@code LOCAL_XDS_PATH} schema
 * (camelCase, ztunnel's field names and enum spellings), so a dump can be loaded back as a local config file;
 * {@code certificates}, {@code version}, {@code config} and {@code workloadState} follow ztunnel's layout.
 * Stateless.
 */
public final class ConfigDump {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ConfigDump() {}

    public static String toJson(Map<String, Object> dump) {
        try {
            return JSON.writeValueAsString(dump) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The state part: workloads (sorted by uid), services, policies, staged services. */
    public static Map<String, Object> state(ProxyState state) {
        Map<String, Object> out = new LinkedHashMap<>();
        List<Object> workloads = new ArrayList<>();
        for (Workload w : state.workloads()) {
            workloads.add(workload(w));
        }
        out.put("workloads", workloads);
        List<Object> services = new ArrayList<>();
        for (Service s : state.services()) {
            services.add(service(s, state));
        }
        out.put("services", services);
        List<Object> policies = new ArrayList<>();
        for (Authorization p : state.policies()) {
            policies.add(policy(p));
        }
        out.put("policies", policies);
        out.put("stagedServices", state.stagedServices());
        return out;
    }

    static Map<String, Object> workload(Workload w) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("uid", w.uid());
        m.put("name", w.name());
        m.put("namespace", w.namespace());
        m.put(
                "workloadIps",
                w.addresses().stream().map(InetAddress::getHostAddress).toList());
        if (!w.hostname().isEmpty()) {
            m.put("hostname", w.hostname());
        }
        m.put("network", w.network());
        m.put("protocol", w.tunnelProtocol() == Workload.TunnelProtocol.HBONE ? "HBONE" : "TCP");
        m.put("trustDomain", w.trustDomain());
        m.put("serviceAccount", w.serviceAccount());
        if (w.waypoint() != null) {
            m.put("waypoint", gateway(w.waypoint()));
        }
        if (w.networkGateway() != null) {
            m.put("networkGateway", gateway(w.networkGateway()));
        }
        m.put("node", w.node());
        m.put("canonicalName", w.canonicalName());
        m.put("canonicalRevision", w.canonicalRevision());
        m.put("workloadType", w.workloadType().baggageName());
        m.put("workloadName", w.workloadName());
        m.put("nativeTunnel", w.nativeTunnel());
        if (w.applicationTunnel() != null) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("protocol", w.applicationTunnel().protocol().name());
            if (w.applicationTunnel().port() != 0) {
                t.put("port", w.applicationTunnel().port());
            }
            m.put("applicationTunnel", t);
        }
        Map<String, Object> services = new TreeMap<>();
        w.services().forEach((key, ports) -> services.put(key, portMap(ports)));
        m.put("services", services);
        m.put("authorizationPolicies", w.authorizationPolicies());
        m.put("status", w.status() == Workload.HealthStatus.HEALTHY ? "Healthy" : "Unhealthy");
        m.put("clusterId", w.clusterId());
        if (!w.locality().equals(Locality.NONE)) {
            m.put(
                    "locality",
                    Map.of(
                            "region",
                            w.locality().region(),
                            "zone",
                            w.locality().zone(),
                            "subzone",
                            w.locality().subzone()));
        }
        m.put("networkMode", w.networkMode() == Workload.NetworkMode.HOST_NETWORK ? "HostNetwork" : "Standard");
        m.put("capacity", w.capacity());
        return m;
    }

    static Map<String, Object> service(Service s, ProxyState state) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", s.name());
        m.put("namespace", s.namespace());
        m.put("hostname", s.hostname());
        m.put("vips", s.vips().stream().map(NetworkAddress::toString).toList());
        if (!s.cidrVips().isEmpty()) {
            m.put(
                    "cidrVips",
                    s.cidrVips().stream().map(c -> c.network() + "/" + c.cidr()).toList());
        }
        m.put("ports", portMap(s.ports()));
        m.put("subjectAltNames", s.subjectAltNames());
        if (s.waypoint() != null) {
            m.put("waypoint", gateway(s.waypoint()));
        }
        if (!s.weightedWaypoints().isEmpty()) {
            List<Object> ww = new ArrayList<>();
            for (Service.WeightedWaypoint w : s.weightedWaypoints()) {
                ww.add(Map.of("destination", gateway(w.destination()), "weight", w.weight()));
            }
            m.put("weightedWaypoints", ww);
        }
        if (s.loadBalancing() != null) {
            Map<String, Object> lb = new LinkedHashMap<>();
            lb.put(
                    "routingPreferences",
                    s.loadBalancing().routingPreference().stream()
                            .map(ConfigDump::pascal)
                            .toList());
            lb.put(
                    "mode",
                    s.loadBalancing().mode() == Service.LoadBalancing.Mode.UNSPECIFIED
                            ? "Standard"
                            : pascal(s.loadBalancing().mode()));
            lb.put(
                    "healthPolicy",
                    s.loadBalancing().healthPolicy() == Service.LoadBalancing.HealthPolicy.ALLOW_ALL
                            ? "AllowAll"
                            : "OnlyHealthy");
            m.put("loadBalancer", lb);
        }
        switch (s.ipFamilies()) {
            case DUAL -> m.put("ipFamilies", "Dual");
            case IPV4_ONLY -> m.put("ipFamilies", "IPv4");
            case IPV6_ONLY -> m.put("ipFamilies", "IPv6");
            case AUTOMATIC -> {}
        }
        m.put("canonical", s.canonical());
        m.put("visibility", s.visibility() == Service.Visibility.NAMESPACE ? "Namespace" : "Public");
        if (state != null) {
            Map<String, Object> endpoints = new TreeMap<>();
            for (ProxyState.Endpoint e : state.endpoints(s)) {
                Map<String, Object> ep = new LinkedHashMap<>();
                ep.put("workloadUid", e.workload().uid());
                ep.put("port", portMap(e.ports()));
                ep.put("status", e.workload().status() == Workload.HealthStatus.HEALTHY ? "Healthy" : "Unhealthy");
                endpoints.put(e.workload().uid(), ep);
            }
            m.put("endpoints", endpoints);
        }
        return m;
    }

    static Map<String, Object> policy(Authorization p) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", p.name());
        m.put("namespace", p.namespace());
        m.put(
                "scope",
                switch (p.scope()) {
                    case GLOBAL -> "Global";
                    case NAMESPACE -> "Namespace";
                    case WORKLOAD_SELECTOR -> "WorkloadSelector";
                });
        m.put("action", p.action() == Authorization.Action.DENY ? "Deny" : "Allow");
        m.put("dryRun", p.dryRun());
        List<Object> rules = new ArrayList<>();
        for (Authorization.Rule r : p.rules()) {
            List<Object> clauses = new ArrayList<>();
            for (Authorization.Clause c : r.clauses()) {
                List<Object> matches = new ArrayList<>();
                for (Authorization.Match match : c.matches()) {
                    matches.add(match(match));
                }
                clauses.add(matches);
            }
            rules.add(clauses);
        }
        m.put("rules", rules);
        return m;
    }

    private static Map<String, Object> match(Authorization.Match m) {
        Map<String, Object> out = new LinkedHashMap<>();
        putStrings(out, "namespaces", m.namespaces());
        putStrings(out, "notNamespaces", m.notNamespaces());
        putAccounts(out, "serviceAccounts", m.serviceAccounts());
        putAccounts(out, "notServiceAccounts", m.notServiceAccounts());
        putStrings(out, "principals", m.principals());
        putStrings(out, "notPrincipals", m.notPrincipals());
        putCidrs(out, "sourceIps", m.sourceIps());
        putCidrs(out, "notSourceIps", m.notSourceIps());
        putCidrs(out, "destinationIps", m.destinationIps());
        putCidrs(out, "notDestinationIps", m.notDestinationIps());
        if (!m.destinationPorts().isEmpty()) {
            out.put("destinationPorts", m.destinationPorts());
        }
        if (!m.notDestinationPorts().isEmpty()) {
            out.put("notDestinationPorts", m.notDestinationPorts());
        }
        return out;
    }

    private static void putStrings(Map<String, Object> out, String key, List<Authorization.StringMatch> list) {
        if (list.isEmpty()) {
            return;
        }
        List<Object> items = new ArrayList<>();
        for (Authorization.StringMatch s : list) {
            items.add(
                    switch (s) {
                        case Authorization.StringMatch.Exact e -> Map.of("Exact", e.value());
                        case Authorization.StringMatch.Prefix p -> Map.of("Prefix", p.value());
                        case Authorization.StringMatch.Suffix x -> Map.of("Suffix", x.value());
                        case Authorization.StringMatch.Presence p -> Map.of("Presence", List.of());
                    });
        }
        out.put(key, items);
    }

    private static void putAccounts(Map<String, Object> out, String key, List<Authorization.ServiceAccountMatch> list) {
        if (!list.isEmpty()) {
            out.put(
                    key,
                    list.stream()
                            .map(a -> Map.of("namespace", a.namespace(), "serviceAccount", a.serviceAccount()))
                            .toList());
        }
    }

    private static void putCidrs(Map<String, Object> out, String key, List<Cidr> list) {
        if (!list.isEmpty()) {
            out.put(key, list.stream().map(Cidr::toString).toList());
        }
    }

    private static Map<String, Object> gateway(GatewayAddress g) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("destination", g.destination().toString());
        m.put("hboneMtlsPort", g.hboneMtlsPort());
        return m;
    }

    private static Map<String, Integer> portMap(Map<Integer, Integer> ports) {
        Map<String, Integer> out = new TreeMap<>();
        ports.forEach((k, v) -> out.put(String.valueOf(k), v));
        return out;
    }

    private static String pascal(Enum<?> e) {
        String n = e.name().toLowerCase(Locale.ROOT);
        return Character.toUpperCase(n.charAt(0)) + n.substring(1);
    }

    /** The {@code certificates} section: one entry per identity with its state, chain and roots. */
    public static List<Object> certificates(List<CertificateManager.Status> statuses) {
        List<Object> out = new ArrayList<>();
        for (CertificateManager.Status s : statuses) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("identity", s.identity().toString());
            m.put(
                    "state",
                    switch (s.state()) {
                        case INITIALIZING -> "Initializing";
                        case AVAILABLE -> "Available";
                        case UNAVAILABLE -> "Unavailable: " + s.error();
                    });
            WorkloadCertificate cert = s.certificate();
            if (cert != null) {
                m.put(
                        "certChain",
                        cert.chain().stream().map(ConfigDump::certificate).toList());
                m.put(
                        "rootCerts",
                        cert.roots().stream().map(ConfigDump::certificate).toList());
            } else {
                m.put("certChain", List.of());
                m.put("rootCerts", List.of());
            }
            out.add(m);
        }
        return out;
    }

    private static Map<String, Object> certificate(X509Certificate c) {
        Map<String, Object> m = new LinkedHashMap<>();
        try {
            m.put("pem", Base64.getEncoder().encodeToString(Pem.encode(c).getBytes(StandardCharsets.US_ASCII)));
        } catch (RuntimeException e) {
            m.put("pem", "");
        }
        m.put("serialNumber", c.getSerialNumber().toString(16));
        m.put("validFrom", c.getNotBefore().toInstant().toString());
        m.put("expirationTime", c.getNotAfter().toInstant().toString());
        return m;
    }
}
