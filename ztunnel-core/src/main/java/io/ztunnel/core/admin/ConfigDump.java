package io.ztunnel.core.admin;

import io.netty.util.NetUtil;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.identity.Pem;
import io.ztunnel.core.identity.WorkloadCertificate;
import io.ztunnel.core.proxy.ConnectionRecord;
import io.ztunnel.core.proxy.Direction;
import io.ztunnel.core.state.Authorization;
import io.ztunnel.core.state.Cidr;
import io.ztunnel.core.state.GatewayAddress;
import io.ztunnel.core.state.Locality;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import io.ztunnel.core.util.JsonText;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.jspecify.annotations.Nullable;

/**
 * Renders {@code /config_dump} in Istio ztunnel's shape, which {@code istioctl ztunnel-config} reads: top-level
 * {@code certificates}, {@code config}, {@code policies}, {@code services}, {@code stagedServices},
 * {@code staticConfig}, {@code version}, {@code workloadState} (shared mode) and {@code workloads}; every object's keys
 * in sorted order (upstream serializes through an ordered map), optional fields left out when empty as upstream leaves
 * them out, IPv6 addresses compressed, certificate serial numbers in decimal. {@code staticConfig} holds the local
 * config ({@code LOCAL_XDS_PATH} / {@code LOCAL_XDS}) in its own schema, so it loads back as a config file.
 *
 * <p>Stateless; builds plain maps and lists that {@link JsonText#pretty} writes.
 */
public final class ConfigDump {
    private static final DateTimeFormatter SECONDS = DateTimeFormatter.ISO_INSTANT;

    private ConfigDump() {}

    /** The dump as upstream writes it: pretty, keys sorted, no trailing newline. */
    public static String toJson(Map<String, Object> dump) {
        return JsonText.pretty(dump);
    }

    // ----- state -----------------------------------------------------------------------------------------------------

    /** The state part: workloads (by uid), services (by hostname), policies (by {@code ns/name}), staged services. */
    public static Map<String, Object> state(ProxyState state) {
        Map<String, Object> out = new LinkedHashMap<>();
        List<Object> workloads = new ArrayList<>();
        for (Workload w : state.workloads()) {
            workloads.add(workload(w, false));
        }
        out.put("workloads", workloads);
        List<Service> sorted = new ArrayList<>(state.services());
        sorted.sort(Comparator.comparing(Service::hostname).thenComparing(Service::namespace));
        List<Object> services = new ArrayList<>();
        for (Service s : sorted) {
            services.add(service(s, state));
        }
        out.put("services", services);
        out.put("policies", policies(state));
        out.put("stagedServices", stagedServices(state));
        return out;
    }

    /**
     * A state in the local config schema ({@code staticConfig}, and what {@code LOCAL_XDS_PATH} loads): workloads with
     * their service port maps, services without endpoints, policies.
     */
    public static Map<String, Object> staticConfig(ProxyState state) {
        Map<String, Object> out = new LinkedHashMap<>();
        List<Object> workloads = new ArrayList<>();
        for (Workload w : state.workloads()) {
            workloads.add(workload(w, true));
        }
        out.put("workloads", workloads);
        List<Object> services = new ArrayList<>();
        for (Service s : state.services()) {
            services.add(service(s, null));
        }
        out.put("services", services);
        out.put("policies", policies(state));
        return out;
    }

    private static List<Object> policies(ProxyState state) {
        List<Object> policies = new ArrayList<>();
        for (Authorization p : state.policies()) {
            policies.add(policy(p));
        }
        return policies;
    }

    /** Endpoints of services that have not arrived: {@code {"ns/host": {uid: endpoint}}}. */
    private static Map<String, Object> stagedServices(ProxyState state) {
        Set<String> staged = new TreeSet<>(state.stagedServices());
        Map<String, Object> out = new TreeMap<>();
        for (Workload w : state.workloads()) {
            w.services().forEach((key, ports) -> {
                if (staged.contains(key)) {
                    @SuppressWarnings("unchecked")
                    Map<String, Object> endpoints =
                            (Map<String, Object>) out.computeIfAbsent(key, k -> new TreeMap<String, Object>());
                    endpoints.put(w.uid(), endpoint(w, ports));
                }
            });
        }
        return out;
    }

    /**
     * A workload. In the state form its {@code services} are {@code "ns/host"} names; in the local config form
     * ({@code localConfig}) port maps by name.
     */
    static Map<String, Object> workload(Workload w, boolean localConfig) {
        Map<String, Object> m = new LinkedHashMap<>();
        putIfNotEmpty(m, "uid", w.uid());
        m.put("name", w.name());
        m.put("namespace", w.namespace());
        m.put(
                "workloadIps",
                w.addresses().stream().map(NetUtil::toAddressString).toList());
        putIfNotEmpty(m, "hostname", w.hostname());
        putIfNotEmpty(m, "network", w.network());
        m.put("protocol", w.tunnelProtocol() == Workload.TunnelProtocol.HBONE ? "HBONE" : "TCP");
        m.put("trustDomain", w.trustDomain());
        m.put("serviceAccount", w.serviceAccount());
        if (w.waypoint() != null) {
            m.put("waypoint", gateway(w.waypoint()));
        }
        if (w.networkGateway() != null) {
            m.put("networkGateway", gateway(w.networkGateway()));
        }
        putIfNotEmpty(m, "node", w.node());
        putIfNotEmpty(m, "canonicalName", w.canonicalName());
        putIfNotEmpty(m, "canonicalRevision", w.canonicalRevision());
        m.put("workloadType", w.workloadType().baggageName());
        putIfNotEmpty(m, "workloadName", w.workloadName());
        if (w.nativeTunnel()) {
            m.put("nativeTunnel", true);
        }
        if (w.applicationTunnel() != null) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("protocol", w.applicationTunnel().protocol().name());
            t.put(
                    "port",
                    w.applicationTunnel().port() == 0
                            ? null
                            : w.applicationTunnel().port());
            m.put("applicationTunnel", t);
        }
        if (localConfig) {
            // The local config schema requires the map, empty or not.
            Map<String, Object> services = new TreeMap<>();
            w.services().forEach((key, ports) -> services.put(key, portMap(ports)));
            m.put("services", services);
        } else if (!w.services().isEmpty()) {
            m.put("services", List.copyOf(new TreeSet<>(w.services().keySet())));
        }
        if (!w.authorizationPolicies().isEmpty()) {
            m.put("authorizationPolicies", w.authorizationPolicies());
        }
        m.put("status", w.status() == Workload.HealthStatus.HEALTHY ? "Healthy" : "Unhealthy");
        m.put("clusterId", w.clusterId());
        if (!w.locality().equals(Locality.NONE)) {
            Map<String, Object> locality = new LinkedHashMap<>();
            locality.put("region", w.locality().region());
            locality.put("zone", w.locality().zone());
            locality.put("subzone", w.locality().subzone());
            m.put("locality", locality);
        }
        m.put("networkMode", w.networkMode() == Workload.NetworkMode.HOST_NETWORK ? "HostNetwork" : "Standard");
        m.put("capacity", w.capacity());
        return m;
    }

    /** A service; with {@code state}, its endpoints keyed by workload uid. */
    static Map<String, Object> service(Service s, @Nullable ProxyState state) {
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
        if (s.canonical()) {
            m.put("canonical", true);
        }
        m.put("visibility", s.visibility() == Service.Visibility.NAMESPACE ? "Namespace" : "Public");
        if (state != null) {
            Map<String, Object> endpoints = new TreeMap<>();
            for (ProxyState.Endpoint e : state.endpoints(s)) {
                endpoints.put(e.workload().uid(), endpoint(e.workload(), e.ports()));
            }
            m.put("endpoints", endpoints);
        }
        return m;
    }

    private static Map<String, Object> endpoint(Workload w, Map<Integer, Integer> ports) {
        Map<String, Object> ep = new LinkedHashMap<>();
        ep.put("workloadUid", w.uid());
        ep.put("port", portMap(ports));
        ep.put("status", w.status() == Workload.HealthStatus.HEALTHY ? "Healthy" : "Unhealthy");
        return ep;
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

    private static void putIfNotEmpty(Map<String, Object> m, String key, String value) {
        if (value != null && !value.isEmpty()) {
            m.put(key, value);
        }
    }

    private static String pascal(Enum<?> e) {
        String n = e.name().toLowerCase(Locale.ROOT);
        return Character.toUpperCase(n.charAt(0)) + n.substring(1);
    }

    // ----- certificates ----------------------------------------------------------------------------------------------

    /**
     * The {@code certificates} section: per identity its state ({@code Initializing}, {@code Available},
     * {@code Unavailable: <error>}), and, when available, the chain (leaf and intermediates) and the roots, each with
     * the base64 PEM, the decimal serial number and the validity to the second.
     */
    public static List<Object> certificates(List<CertificateManager.Status> statuses) {
        List<CertificateManager.Status> sorted = new ArrayList<>(statuses);
        sorted.sort(Comparator.comparing(s -> s.identity().toString()));
        List<Object> out = new ArrayList<>();
        for (CertificateManager.Status s : sorted) {
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
            if (cert != null && s.state() == CertificateManager.State.AVAILABLE) {
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

    static Map<String, Object> certificate(X509Certificate c) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("pem", Base64.getEncoder().encodeToString(Pem.encode(c).getBytes(StandardCharsets.US_ASCII)));
        m.put("serialNumber", c.getSerialNumber().toString());
        m.put("validFrom", rfc3339(c.getNotBefore().toInstant()));
        m.put("expirationTime", rfc3339(c.getNotAfter().toInstant()));
        return m;
    }

    private static String rfc3339(Instant t) {
        return SECONDS.format(t.truncatedTo(ChronoUnit.SECONDS));
    }

    // ----- version, config -------------------------------------------------------------------------------------------

    /**
     * The {@code version} section: upstream's keys ({@code rustVersion} is empty: there is no Rust here) plus
     * {@code javaVersion}.
     */
    public static Map<String, Object> version(
            String version, String gitRevision, String buildStatus, String istioVersion) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("version", version);
        m.put("gitRevision", gitRevision);
        m.put("rustVersion", "");
        m.put("javaVersion", Runtime.version().toString());
        m.put("buildProfile", "release");
        m.put("buildStatus", buildStatus);
        m.put("istioVersion", istioVersion);
        m.put("cryptoProvider", "boringssl");
        return m;
    }

    /**
     * The {@code config} section: the runtime configuration under upstream's key names and encodings (durations
     * {@code {"nanos","secs"}}, addresses {@code {"Localhost":[ipv6, port]}} or {@code {"SocketAddr": "[::]:15020"}},
     * absent values {@code null}), plus our own knobs ({@code ca}, {@code localCaDir}, {@code tls12Enabled},
     * {@code compliancePolicy}, {@code proxyBindAddress}). {@code dnsResolverCfg} and {@code dnsResolverOpts} are
     * {@link DnsResolver#NONE}: no {@code resolv.conf} read.
     *
     * @param caDescription which certificate authority is in use
     */
    public static Map<String, Object> config(Config c, String caDescription) {
        return config(c, caDescription, DnsResolver.NONE);
    }

    /**
     * The upstream DNS resolution the daemon does (the DNS proxy's forwarder), from the {@code resolv.conf} it read:
     * {@code config.dnsResolverCfg} and {@code config.dnsResolverOpts} in upstream's shape, its resolver library's
     * configuration types as they serialize (snake_case keys inside the two camelCase keys).
     *
     * @param domain the {@code domain} line, or null
     * @param search the search list
     * @param nameservers the upstream servers, in order (each is asked over UDP, and over TCP for a truncated answer)
     * @param timeout one upstream answer's timeout
     * @param attempts rounds over the servers
     * @param ndots {@code options ndots:N}
     * @param edns0 {@code options edns0}
     * @param rotate {@code options rotate}
     */
    public record DnsResolver(
            @Nullable String domain,
            List<String> search,
            List<InetSocketAddress> nameservers,
            Duration timeout,
            int attempts,
            int ndots,
            boolean edns0,
            boolean rotate) {
        /** Nothing read (the DNS proxy is off): no servers, the resolver defaults. */
        public static final DnsResolver NONE =
                new DnsResolver(null, List.of(), List.of(), Duration.ofSeconds(5), 2, 1, false, false);

        public DnsResolver {
            search = List.copyOf(search);
            nameservers = List.copyOf(nameservers);
        }
    }

    /**
     * {@code config} with the DNS resolution described by {@code dns} (see {@link #config(Config, String)}).
     *
     * @param caDescription which certificate authority is in use
     */
    public static Map<String, Object> config(Config c, String caDescription, DnsResolver dns) {
        boolean ipv6 = c.ipv6Enabled();
        String wildcard = ipv6 ? "[::]" : "0.0.0.0";
        Config.Ports ports = c.ports();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("adminAddr", Map.of("Localhost", List.of(ipv6, ports.admin())));
        m.put("altCaHostname", emptyToNull(c.altCaHostname()));
        m.put("altXdsHostname", emptyToNull(c.altXdsHostname()));
        m.put("caAddress", c.localCa() ? null : c.caAddress());
        m.put("caHeaders", headers(c.caHeaders()));
        m.put("caRootCert", rootCert(c.caRootCa()));
        m.put("clusterDomain", c.clusterDomain());
        m.put("clusterId", c.clusterId());
        m.put("connectionWindowSize", c.hbone().connectionWindow());
        m.put("dnsProxy", c.dns().enabled());
        InetSocketAddress dnsLiteral = c.dns().literal();
        m.put(
                "dnsProxyAddr",
                dnsLiteral != null
                        ? Map.of("SocketAddr", address(dnsLiteral))
                        : Map.of("Localhost", List.of(ipv6, c.dns().port())));
        m.put("dnsResolverCfg", resolverConfig(dns));
        m.put("dnsResolverOpts", resolverOptions(dns, ipv6));
        m.put("enableEnhancedBaggage", c.responseBaggage());
        m.put("fakeCa", c.upstream().fakeCa());
        m.put("fakeSelfInbound", false);
        m.put("frameSize", c.hbone().frameSize());
        m.put("illegalPorts", List.copyOf(new TreeSet<>(c.illegalPorts())));
        m.put("inboundAddr", socketAddress(c, wildcard, ports.inboundHbone()));
        m.put("inboundPlaintextAddr", socketAddress(c, wildcard, ports.inboundPlaintext()));
        m.put("inpodPortReuse", c.inpodPortReuse());
        m.put("inpodUds", c.inpodUds());
        m.put("ipv6Enabled", ipv6);
        m.put("localNode", emptyToNull(c.nodeName()));
        m.put("localhostAppTunnel", c.upstream().localhostAppTunnel());
        m.put("network", c.network());
        m.put("numWorkerThreads", c.workerThreads());
        m.put("outboundAddr", socketAddress(c, wildcard, ports.outbound()));
        m.put("packetMark", c.packetMark() == 0 ? null : c.packetMark());
        m.put("poolMaxStreamsPerConn", c.hbone().poolMaxStreamsPerConnection());
        m.put("poolUnusedReleaseTimeout", duration(c.hbone().poolIdleTimeout()));
        m.put("preferedServiceNamespace", emptyToNull(c.preferredServiceNamespace()));
        m.put("proxy", c.upstream().proxyEnabled());
        m.put("proxyArgs", c.upstream().proxyArgs());
        m.put("proxyMetadata", new TreeMap<>(c.proxyMetadata()));
        m.put("proxyMode", c.proxyMode() == Config.ProxyMode.SHARED ? "Shared" : "Dedicated");
        m.put("proxyWorkloadInformation", workloadInfo(c.proxyWorkloadInfo()));
        m.put("readinessAddr", Map.of("SocketAddr", wildcard + ":" + ports.readiness()));
        m.put("requireOriginalSource", c.enableOriginalSource());
        m.put("secretTtl", duration(c.secretTtl()));
        m.put("selfTerminationDeadline", duration(c.terminationDeadline()));
        Map<String, Object> socket = new LinkedHashMap<>();
        socket.put("keepaliveEnabled", c.socketConfig().keepaliveEnabled());
        socket.put("keepaliveInterval", duration(c.socketConfig().keepaliveInterval()));
        socket.put("keepaliveRetries", c.socketConfig().keepaliveRetries());
        socket.put("keepaliveTime", duration(c.socketConfig().keepaliveTime()));
        socket.put("userTimeoutEnabled", c.socketConfig().userTimeoutEnabled());
        m.put("socketConfig", socket);
        m.put("socks5Addr", c.socks5Enabled() ? Map.of("Localhost", List.of(ipv6, ports.socks5())) : null);
        m.put("statsAddr", Map.of("SocketAddr", wildcard + ":" + ports.stats()));
        m.put("transparentNetworkPolicies", false);
        m.put("windowSize", c.hbone().streamWindow());
        m.put("xdsAddress", c.xdsEnabled() ? c.xdsAddress() : null);
        m.put("xdsHeaders", headers(c.xdsHeaders()));
        m.put("xdsOnDemand", c.upstream().xdsOnDemand());
        m.put("xdsRootCert", rootCert(c.xdsRootCa()));
        boolean self = !c.podNamespace().isEmpty() && !c.serviceAccount().isEmpty();
        m.put(
                "ztunnelIdentity",
                self ? "spiffe://" + c.trustDomain() + "/ns/" + c.podNamespace() + "/sa/" + c.serviceAccount() : null);
        m.put(
                "ztunnelWorkload",
                self && !c.podName().isEmpty()
                        ? workloadInfo(new Config.LocalWorkloadInfo(c.podNamespace(), c.podName(), c.serviceAccount()))
                        : null);
        // Ours.
        m.put("ca", caDescription);
        m.put("localCaDir", c.localCa() ? c.localCaDir().toString() : null);
        m.put("tls12Enabled", c.tls().tls12Enabled());
        m.put("compliancePolicy", c.tls().postQuantumOnly() ? "pqc" : null);
        m.put("proxyBindAddress", NetUtil.toAddressString(c.bindAddress()));
        return m;
    }

    /** Upstream's {@code ResolverConfig}: {@code domain}, {@code search}, {@code name_servers} (UDP then TCP each). */
    private static Map<String, Object> resolverConfig(DnsResolver dns) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("domain", dns.domain());
        m.put("search", dns.search());
        List<Object> servers = new ArrayList<>();
        for (InetSocketAddress server : dns.nameservers()) {
            for (String protocol : List.of("udp", "tcp")) {
                Map<String, Object> ns = new LinkedHashMap<>();
                ns.put("socket_addr", address(server));
                ns.put("protocol", protocol);
                ns.put("tls_dns_name", null);
                ns.put("http_endpoint", null);
                ns.put("trust_negative_responses", false);
                ns.put("bind_addr", null);
                servers.add(ns);
            }
        }
        m.put("name_servers", servers);
        return m;
    }

    /**
     * Upstream's {@code ResolverOpts}, every key, with the values of our forwarder: the file's {@code ndots},
     * {@code timeout}, {@code attempts}, {@code rotate} and {@code edns0}; upstream's {@code ip_strategy} by
     * {@code IPV6_ENABLED}; and what the forwarder does where upstream's resolver library differs: no answer cache
     * ({@code cache_size} 0), one server at a time in the file's order ({@code num_concurrent_reqs} 1,
     * {@code UserProvidedOrder}), no hosts file ({@code Never}).
     */
    private static Map<String, Object> resolverOptions(DnsResolver dns, boolean ipv6) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ndots", dns.ndots());
        m.put("timeout", duration(dns.timeout()));
        m.put("attempts", dns.attempts());
        m.put("rotate", dns.rotate());
        m.put("check_names", true);
        m.put("edns0", dns.edns0());
        m.put("validate", false);
        m.put("ip_strategy", ipv6 ? "Ipv4AndIpv6" : "Ipv4Only");
        m.put("cache_size", 0);
        m.put("use_hosts_file", "Never");
        m.put("positive_min_ttl", null);
        m.put("negative_min_ttl", null);
        m.put("positive_max_ttl", null);
        m.put("negative_max_ttl", null);
        m.put("num_concurrent_reqs", 1);
        m.put("preserve_intermediates", true);
        m.put("try_tcp_on_error", false);
        m.put("server_ordering_strategy", "UserProvidedOrder");
        m.put("recursion_desired", true);
        m.put("avoid_local_udp_ports", List.of());
        m.put("os_port_selection", false);
        m.put("case_randomization", false);
        return m;
    }

    private static @Nullable Object workloadInfo(Config.@Nullable LocalWorkloadInfo info) {
        if (info == null) {
            return null;
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", info.name());
        m.put("namespace", info.namespace());
        m.put("serviceAccount", info.serviceAccount());
        return m;
    }

    /** A listener address as Rust's {@code SocketAddr} displays: the dedicated-mode bind address or the wildcard. */
    private static String socketAddress(Config c, String wildcard, int port) {
        InetAddress bind = c.bindAddress();
        if (c.proxyMode() == Config.ProxyMode.SHARED || bind.isAnyLocalAddress()) {
            return wildcard + ":" + port;
        }
        String host = NetUtil.toAddressString(bind);
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }

    private static Map<String, Object> duration(Duration d) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("secs", d.getSeconds());
        m.put("nanos", d.getNano());
        return m;
    }

    private static List<Object> headers(Map<String, String> headers) {
        List<Object> out = new ArrayList<>();
        new TreeMap<>(headers).forEach((k, v) -> out.add(List.of(k.toLowerCase(Locale.ROOT), v)));
        return out;
    }

    /** Upstream's {@code RootCert}: a file, the system roots ({@code SYSTEM}), or inline PEM (shown empty). */
    private static Object rootCert(String value) {
        if (value.equals("SYSTEM")) {
            return "Default";
        }
        if (value.contains("-----BEGIN")) {
            return Map.of("Static", List.of());
        }
        return Map.of("File", value);
    }

    private static @Nullable String emptyToNull(@Nullable String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    // ----- workload state (shared mode) --------------------------------------------------------------------------

    /**
     * {@code workloadState}: per pod uid, its {@code info} and {@code state} as the in-pod manager reports them, and
     * for a pod that is {@code Up} its live {@code connections}: {@code inbound} (policy-checked connections the pod
     * received: client address, {@code originalDst} the {@code Forwarded host=} a waypoint sent (else {@code null}), the address connected to, {@code HBONE} when the peer
     * had an identity else {@code TCP}; duplicates collapsed) and {@code outbound} (the app's address, where it
     * connected, the next hop, {@code TCP}, {@code HBONE} or {@code DOUBLEHBONE}).
     *
     * @param pods the in-pod manager's state: uid to {@code {state, info: {name, namespace, serviceAccount}}}
     */
    public static Map<String, Object> workloadState(
            Map<String, Map<String, Object>> pods, Collection<ConnectionRecord> connections) {
        Map<String, Object> out = new TreeMap<>();
        pods.forEach((uid, pod) -> {
            Map<String, Object> entry = new LinkedHashMap<>(pod);
            if ("Up".equals(pod.get("state")) && pod.get("info") instanceof Map<?, ?> info) {
                String owner = info.get("namespace") + "/" + info.get("name") + "/" + info.get("serviceAccount");
                entry.put("connections", connections(owner, connections));
            }
            out.put(uid, entry);
        });
        return out;
    }

    private static Map<String, Object> connections(String owner, Collection<ConnectionRecord> records) {
        Set<Map<String, Object>> inbound = new LinkedHashSet<>();
        List<Object> outbound = new ArrayList<>();
        for (ConnectionRecord r : records) {
            if (!owner.equals(r.owner())) {
                continue;
            }
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("src", address(r.source()));
            if (r.direction() == Direction.INBOUND) {
                c.put("originalDst", r.forwardedHost());
                c.put("actualDst", r.hboneTarget() != null ? r.hboneTarget() : address(r.destination()));
                c.put("protocol", r.sourceIdentity() != null ? "HBONE" : "TCP");
                inbound.add(c);
            } else {
                c.put("originalDst", address(r.originalDestination()));
                // The next hop: the upstream, the HBONE listener of the destination or its waypoint, or (double
                // HBONE) the network gateway.
                c.put("actualDst", address(r.destination()));
                c.put(
                        "protocol",
                        r.destinationBaggage() != null ? "DOUBLEHBONE" : r.hboneTarget() != null ? "HBONE" : "TCP");
                outbound.add(c);
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("inbound", List.copyOf(inbound));
        out.put("outbound", outbound);
        return out;
    }

    private static @Nullable String address(@Nullable InetSocketAddress a) {
        if (a == null) {
            return null;
        }
        String host = a.getAddress() == null ? a.getHostString() : NetUtil.toAddressString(a.getAddress());
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + a.getPort();
    }
}
