package io.ztunnel.core.config;

import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.identity.TlsSettings;
import io.ztunnel.core.util.Errors;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The daemon's configuration, read once at start from Istio ztunnel's environment variables (and validated: a bad
 * value stops the start with a message naming the variable). Immutable.
 *
 * <p>Values are read and validated as upstream reads them: booleans are exactly {@code true} or {@code false} (anything
 * else, an empty value included, stops the start), durations like {@code 24h} or {@code 1m30s}. Outside Kubernetes
 * (no {@code KUBERNETES_SERVICE_HOST}) the xDS and CA addresses default to {@code https://localhost:15012} as upstream's
 * do; set them empty ({@code XDS_ADDRESS=}, {@code CA_ADDRESS=}) for the embedded local config and local CA. A few
 * knobs have no upstream equivalent ({@code LOCAL_CA_DIR}, {@code PROXY_BIND_ADDRESS} and the port overrides), for
 * running several daemons on one machine.
 */
public record Config(
        ProxyMode proxyMode,
        @Nullable LocalWorkloadInfo proxyWorkloadInfo,
        String nodeName,
        String network,
        String clusterId,
        String clusterDomain,
        String podName,
        String podNamespace,
        String serviceAccount,
        String trustDomain,
        String instanceIp,
        String xdsAddress,
        String caAddress,
        String xdsRootCa,
        String caRootCa,
        String altXdsHostname,
        String altCaHostname,
        String authToken,
        Map<String, String> xdsHeaders,
        Map<String, String> caHeaders,
        Map<String, String> proxyMetadata,
        Map<String, String> proxyMetadataJson,
        @Nullable String localXdsPath,
        @Nullable String localXds,
        Path localCaDir,
        boolean localCaDirSet,
        Duration secretTtl,
        TlsSettings tls,
        @Nullable String crlPath,
        String inpodUds,
        boolean inpodPortReuse,
        int packetMark,
        @Nullable Boolean enableOriginalSource,
        boolean ipv6Enabled,
        boolean socks5Enabled,
        boolean responseBaggage,
        int workerThreads,
        HboneSettings hbone,
        SocketConfig socketConfig,
        Duration terminationDeadline,
        InetAddress bindAddress,
        Ports ports,
        String preferredServiceNamespace,
        boolean authzPolicyInfoLogging,
        Upstream upstream,
        String istioVersion,
        DnsSettings dns,
        List<String> warnings) {

    /** {@code shared}: one daemon per node proxying every enrolled pod in its own network namespace. */
    public enum ProxyMode {
        SHARED,
        DEDICATED
    }

    /** The listening ports; upstream's fixed values unless overridden (tests, several daemons on one host). */
    public record Ports(
            int outbound, int inboundPlaintext, int inboundHbone, int socks5, int admin, int stats, int readiness) {
        public static final Ports DEFAULT = new Ports(15001, 15006, 15008, 15080, 15000, 15020, 15021);
    }

    /**
     * TCP keepalive and user timeout of the proxy's sockets ({@code KEEPALIVE_ENABLED}, {@code KEEPALIVE_TIME},
     * {@code KEEPALIVE_INTERVAL}, {@code KEEPALIVE_RETRIES}, {@code USER_TIMEOUT_ENABLED}): upstream's defaults 180 s /
     * 180 s / 9 probes, on; user timeout off.
     */
    public record SocketConfig(
            boolean keepaliveEnabled,
            Duration keepaliveTime,
            Duration keepaliveInterval,
            int keepaliveRetries,
            boolean userTimeoutEnabled) {
        public static final SocketConfig DEFAULT =
                new SocketConfig(true, Duration.ofSeconds(180), Duration.ofSeconds(180), 9, false);

        /** {@code TCP_USER_TIMEOUT} when enabled: keepalive time plus retries times the interval, as upstream. */
        public Duration userTimeout() {
            return keepaliveTime.plus(keepaliveInterval.multipliedBy(keepaliveRetries));
        }
    }

    /**
     * Settings read as upstream reads them that have no behaviour of their own here yet (they appear in
     * {@code /config_dump}) or that only decide how other settings are derived.
     *
     * @param proxyEnabled {@code ENABLE_PROXY}: the proxy listeners run (false: none, in either mode)
     * @param fakeCa {@code FAKE_CA}: upstream's in-process test CA; here, the embedded local CA
     * @param localhostAppTunnel {@code LOCALHOST_APP_TUNNEL}: a {@code PROXY} application tunnel is reached on the pod's
     *     loopback (true, the default) or on the pod IP
     * @param xdsOnDemand {@code XDS_ON_DEMAND}: addresses are asked for by name when missing instead of all subscribed
     * @param cpus the CPU count worker-thread rules use: {@code ZTUNNEL_CPU_LIMIT}, else the logical CPUs
     * @param proxyArgs the command line after the program name, as upstream shows it
     */
    public record Upstream(
            boolean proxyEnabled,
            boolean fakeCa,
            boolean localhostAppTunnel,
            boolean xdsOnDemand,
            int cpus,
            String proxyArgs) {}

    /** {@code namespace/name/serviceAccount} of a local workload (dedicated mode). */
    public record LocalWorkloadInfo(String namespace, String name, String serviceAccount) {
        public static LocalWorkloadInfo parse(String text) {
            // As upstream: the service account is everything after the second slash.
            String[] parts = text.split("/", 3);
            if (parts.length != 3 || parts[0].isEmpty() || parts[1].isEmpty() || parts[2].isEmpty()) {
                throw new ConfigException(
                        "PROXY_WORKLOAD_INFO=" + text + ": expected <namespace>/<name>/<service account>");
            }
            return new LocalWorkloadInfo(parts[0], parts[1], parts[2]);
        }

        @Override
        public String toString() {
            return namespace + "/" + name + "/" + serviceAccount;
        }
    }

    /** The configuration of a daemon started as {@code ztunnel <args>}. */
    public static Config fromEnvironment(String... args) {
        return from(Env.system(), MeshConfig.DEFAULT_FILE, String.join(" ", args));
    }

    public static Config from(Env env) {
        return from(env, MeshConfig.DEFAULT_FILE);
    }

    public static Config from(Env env, Path meshFile) {
        return from(env, meshFile, "proxy ztunnel");
    }

    /**
     * Reads the configuration from {@code env}, with the mesh config at {@code meshFile} and {@code PROXY_CONFIG}
     * beneath it: an environment variable, when set, wins over the ProxyConfig field of the same meaning.
     */
    public static Config from(Env env, Path meshFile, String proxyArgs) {
        MeshConfig mesh = MeshConfig.load(meshFile, env.raw("PROXY_CONFIG"));
        boolean inKubernetes = env.isSet("KUBERNETES_SERVICE_HOST");
        String defaultIstiod = inKubernetes ? "https://istiod.istio-system.svc:15012" : "https://localhost:15012";

        ProxyMode mode = switch (env.string("PROXY_MODE", "shared")) {
            case "shared" -> ProxyMode.SHARED;
            case "dedicated" -> ProxyMode.DEDICATED;
            default ->
                throw new ConfigException("PROXY_MODE=" + env.raw("PROXY_MODE") + ": expected shared or dedicated");
        };
        LocalWorkloadInfo info = null;
        // Upstream reads the local workload in dedicated mode only.
        String workloadInfo = env.raw("PROXY_WORKLOAD_INFO");
        if (mode == ProxyMode.DEDICATED && workloadInfo != null && !workloadInfo.isEmpty()) {
            info = LocalWorkloadInfo.parse(workloadInfo);
        }
        if (mode == ProxyMode.DEDICATED && info == null) {
            throw new ConfigException("PROXY_MODE=dedicated needs PROXY_WORKLOAD_INFO=<namespace>/<name>/<sa>");
        }

        String trustDomain = env.nonEmpty("TRUST_DOMAIN", "cluster.local");
        try {
            new SpiffeId(trustDomain, "ns", "sa");
        } catch (IllegalArgumentException e) {
            throw new ConfigException("TRUST_DOMAIN=" + trustDomain + ": " + Errors.message(e));
        }

        String localXdsPath = env.nonEmpty("LOCAL_XDS_PATH");
        String localXds = env.nonEmpty("LOCAL_XDS");
        if (localXdsPath != null && localXds != null) {
            throw new ConfigException("LOCAL_XDS_PATH and LOCAL_XDS are mutually exclusive; set one of them");
        }

        int cpus = env.nonEmpty("ZTUNNEL_CPU_LIMIT") != null
                ? env.integer("ZTUNNEL_CPU_LIMIT", 1, 1, 1_000_000)
                : Runtime.getRuntime().availableProcessors();
        int workers = workerThreads(env, cpus, mesh.concurrency());

        HboneSettings hbone = new HboneSettings(
                env.integer(
                        "HTTP2_STREAM_WINDOW_SIZE", HboneSettings.DEFAULT.streamWindow(), 65_535, Integer.MAX_VALUE),
                env.integer(
                        "HTTP2_CONNECTION_WINDOW_SIZE",
                        HboneSettings.DEFAULT.connectionWindow(),
                        65_535,
                        Integer.MAX_VALUE),
                env.integer("HTTP2_FRAME_SIZE", HboneSettings.DEFAULT.frameSize(), 16_384, 16_777_215),
                HboneSettings.DEFAULT.serverMaxConcurrentStreams(),
                HboneSettings.DEFAULT.serverMaxHeaderListSize(),
                HboneSettings.DEFAULT.clientMaxHeaderListSize(),
                env.integer("POOL_MAX_STREAMS_PER_CONNECTION", 100, 1, 65_535),
                env.duration("POOL_UNUSED_RELEASE_TIMEOUT", Duration.ofMinutes(5)),
                HboneSettings.DEFAULT.pingInterval(),
                HboneSettings.DEFAULT.pingTimeout(),
                HboneSettings.DEFAULT.connectTimeout());

        String compliance = env.nonEmpty("COMPLIANCE_POLICY", "");
        if (!compliance.isEmpty() && !compliance.equals("pqc")) {
            throw new ConfigException("COMPLIANCE_POLICY=" + compliance + ": only \"pqc\" is supported");
        }

        InetAddress bind;
        String bindText = env.nonEmpty("PROXY_BIND_ADDRESS");
        boolean ipv6 = env.bool("IPV6_ENABLED", true);
        try {
            bind = bindText != null ? InetAddress.getByName(bindText) : InetAddress.getByName(ipv6 ? "::" : "0.0.0.0");
        } catch (UnknownHostException e) {
            throw new ConfigException("PROXY_BIND_ADDRESS=" + bindText + ": not an IP address");
        }

        Ports ports = new Ports(
                env.integer("OUTBOUND_PORT", 15001, 0, 65535),
                env.integer("INBOUND_PLAINTEXT_PORT", 15006, 0, 65535),
                env.integer("INBOUND_HBONE_PORT", 15008, 0, 65535),
                env.integer("SOCKS5_PORT", 15080, 0, 65535),
                env.integer("ADMIN_PORT", mesh.proxyAdminPort() != null ? mesh.proxyAdminPort() : 15000, 0, 65535),
                env.integer("STATS_PORT", mesh.statsPort() != null ? mesh.statsPort() : 15020, 0, 65535),
                env.integer("READINESS_PORT", 15021, 0, 65535));

        Map<String, String> metadata = new LinkedHashMap<>(mesh.proxyMetadata());
        metadata.putAll(env.withPrefix("ISTIO_META_"));
        DnsSettings dns = DnsSettings.fromProxyMetadata(metadata);
        if (dns.enabled() && env.bool("XDS_ON_DEMAND", false)) {
            throw new ConfigException("XDS_ON_DEMAND=true cannot be used with the DNS proxy: turn it off with"
                    + " ISTIO_META_DNS_CAPTURE=false, as Istio's ztunnel requires");
        }
        String clusterId = env.nonEmpty("ISTIO_META_CLUSTER_ID", env.nonEmpty("CLUSTER_ID", "Kubernetes"));
        Upstream upstream = new Upstream(
                env.bool("ENABLE_PROXY", true),
                env.bool("FAKE_CA", false),
                env.bool("LOCALHOST_APP_TUNNEL", true),
                env.bool("XDS_ON_DEMAND", false),
                cpus,
                proxyArgs);
        if (!upstream.proxyEnabled() && !dns.enabled()) {
            throw new ConfigException("ztunnel run without any servers enabled: ENABLE_PROXY=false and the DNS proxy is"
                    + " off (proxy metadata " + DnsSettings.CAPTURE_KEY + "=" + metadata.get(DnsSettings.CAPTURE_KEY)
                    + ")");
        }

        return new Config(
                mode,
                info,
                env.nonEmpty("NODE_NAME", ""),
                env.nonEmpty("NETWORK", ""),
                clusterId,
                env.nonEmpty("CLUSTER_DOMAIN", "cluster.local"),
                env.nonEmpty("POD_NAME", ""),
                env.nonEmpty("POD_NAMESPACE", ""),
                env.nonEmpty("SERVICE_ACCOUNT", ""),
                trustDomain,
                env.nonEmpty("INSTANCE_IP", ""),
                withScheme(env.string(
                        "XDS_ADDRESS", mesh.discoveryAddress() != null ? mesh.discoveryAddress() : defaultIstiod)),
                withScheme(env.string("CA_ADDRESS", defaultIstiod)),
                env.nonEmpty("XDS_ROOT_CA", "./var/run/secrets/istio/root-cert.pem"),
                env.nonEmpty("CA_ROOT_CA", "./var/run/secrets/istio/root-cert.pem"),
                env.nonEmpty("ALT_XDS_HOSTNAME", ""),
                env.nonEmpty("ALT_CA_HOSTNAME", ""),
                env.nonEmpty("AUTH_TOKEN", "./var/run/secrets/tokens/istio-token"),
                env.withPrefix("XDS_HEADER_"),
                env.withPrefix("CA_HEADER_"),
                Map.copyOf(metadata),
                env.withPrefix("ISTIO_METAJSON_"),
                localXdsPath,
                localXds,
                Path.of(env.nonEmpty("LOCAL_CA_DIR", "./var/lib/ztunnel/ca")),
                env.nonEmpty("LOCAL_CA_DIR") != null,
                secretTtl(env),
                new TlsSettings(env.bool("TLS12_ENABLED", false), compliance.equals("pqc")),
                env.nonEmpty("CRL_PATH"),
                env.nonEmpty("INPOD_UDS", "/var/run/ztunnel/ztunnel.sock"),
                env.bool("INPOD_PORT_REUSE", true),
                env.integer("PACKET_MARK", mode == ProxyMode.SHARED ? 1337 : 0, 0, Integer.MAX_VALUE),
                env.optionalBool("ENABLE_ORIG_SRC"),
                ipv6,
                env.bool("UNSTABLE_ENABLE_SOCKS5", false),
                env.bool("ENABLE_RESPONSE_BAGGAGE", true),
                workers,
                hbone,
                socketConfig(env),
                terminationDeadline(env),
                bind,
                ports,
                env.nonEmpty("PREFERED_SERVICE_NAMESPACE", ""),
                env.bool("AUTHZ_POLICY_INFO_LOGGING", false),
                upstream,
                env.nonEmpty("ISTIO_META_ISTIO_VERSION", "unknown"),
                dns,
                warnings(env));
    }

    /** Settings that are accepted but not acted on, each said once at start (see {@link #warnings()}). */
    private static List<String> warnings(Env env) {
        List<String> warnings = new ArrayList<>();
        return List.copyOf(warnings);
    }

    /** The keepalive and user-timeout variables; durations of at least one second (the socket options' unit). */
    private static SocketConfig socketConfig(Env env) {
        SocketConfig d = SocketConfig.DEFAULT;
        Duration time = env.duration("KEEPALIVE_TIME", d.keepaliveTime());
        Duration interval = env.duration("KEEPALIVE_INTERVAL", d.keepaliveInterval());
        for (var e :
                Map.of("KEEPALIVE_TIME", time, "KEEPALIVE_INTERVAL", interval).entrySet()) {
            if (e.getValue().compareTo(Duration.ofSeconds(1)) < 0) {
                throw new ConfigException(e.getKey() + "=" + env.raw(e.getKey()) + ": expected at least 1s");
            }
        }
        return new SocketConfig(
                env.bool("KEEPALIVE_ENABLED", d.keepaliveEnabled()),
                time,
                interval,
                env.integer("KEEPALIVE_RETRIES", d.keepaliveRetries(), 1, 127),
                env.bool("USER_TIMEOUT_ENABLED", d.userTimeoutEnabled()));
    }

    /** {@code SECRET_TTL}: at least one second, as the CA request carries it in whole seconds. */
    private static Duration secretTtl(Env env) {
        Duration ttl = env.duration("SECRET_TTL", Duration.ofHours(24));
        if (ttl.getSeconds() < 1) {
            throw new ConfigException("SECRET_TTL=" + env.raw("SECRET_TTL") + ": expected at least 1s");
        }
        return ttl;
    }

    /** The ports clients may not target: 15001, 15006, 15008, and 15080 when SOCKS5 is on. */
    public Set<Integer> illegalPorts() {
        return socks5Enabled ? Set.of(15001, 15006, 15008, 15080) : Set.of(15001, 15006, 15008);
    }

    public boolean xdsEnabled() {
        return !xdsAddress.isEmpty();
    }

    /**
     * Whether workload certificates come from the embedded local CA rather than istiod: {@code CA_ADDRESS} is empty,
     * {@code FAKE_CA=true} (upstream's in-process test CA), or {@code LOCAL_CA_DIR} was set explicitly (which wins over
     * a CA address).
     */
    public boolean localCa() {
        return caAddress.isEmpty() || upstream.fakeCa() || localCaDirSet;
    }

    private static String withScheme(String address) {
        if (address == null || address.isEmpty()) {
            return "";
        }
        return address.contains("://") ? address : "https://" + address;
    }

    /**
     * The data-plane threads, as upstream: {@code ZTUNNEL_WORKER_THREADS} ({@code N}, {@code 0} = every CPU, or
     * {@code P%} of the CPUs rounded up, at least 1); else ProxyConfig {@code concurrency} ({@code 0} = every CPU);
     * else, with a CPU resource limit, max(limit, request) rounded up; else max(ceil(25 % of CPUs), request, 2).
     * {@code cpus} is {@code ZTUNNEL_CPU_LIMIT} when set, else the logical CPUs.
     */
    static int workerThreads(Env env, int cpus, @Nullable Integer concurrency) {
        String explicit = env.nonEmpty("ZTUNNEL_WORKER_THREADS");
        if (explicit != null) {
            String v = explicit.trim();
            try {
                if (v.endsWith("%")) {
                    double pct = Double.parseDouble(v.substring(0, v.length() - 1));
                    if (!(pct > 0) || pct > 100) {
                        throw new NumberFormatException();
                    }
                    return Math.max(1, (int) Math.ceil(cpus * pct / 100.0));
                }
                int n = Integer.parseInt(v);
                if (n < 0) {
                    throw new NumberFormatException();
                }
                return n == 0 ? cpus : n;
            } catch (NumberFormatException e) {
                throw new ConfigException("ZTUNNEL_WORKER_THREADS=" + explicit
                        + ": expected a thread count or a percentage of CPUs like 50%");
            }
        }
        if (concurrency != null) {
            return concurrency == 0 ? cpus : concurrency;
        }
        double limit = cpuQuantity(env, "ZTUNNEL_RESOURCE_CPU_LIMIT");
        double request = cpuQuantity(env, "ZTUNNEL_RESOURCE_CPU_REQUEST");
        if (limit > 0) {
            return (int) Math.max(1, Math.ceil(Math.max(limit, request)));
        }
        return (int) Math.max(Math.max(Math.ceil(0.25 * cpus), Math.ceil(request)), 2);
    }

    private static double cpuQuantity(Env env, String name) {
        String v = env.nonEmpty(name);
        if (v == null) {
            return 0;
        }
        try {
            String t = v.trim();
            return t.endsWith("m") ? Double.parseDouble(t.substring(0, t.length() - 1)) / 1000 : Double.parseDouble(t);
        } catch (NumberFormatException e) {
            throw new ConfigException(name + "=" + v + ": expected a CPU quantity like 2 or 500m");
        }
    }

    /** {@code CONNECTION_TERMINATION_DEADLINE}, else from {@code TERMINATION_GRACE_PERIOD_SECONDS}, else 5 s. */
    static Duration terminationDeadline(Env env) {
        if (env.nonEmpty("CONNECTION_TERMINATION_DEADLINE") != null) {
            return env.duration("CONNECTION_TERMINATION_DEADLINE", Duration.ofSeconds(5));
        }
        String grace = env.nonEmpty("TERMINATION_GRACE_PERIOD_SECONDS");
        if (grace == null) {
            return Duration.ofSeconds(5);
        }
        int seconds = env.integer("TERMINATION_GRACE_PERIOD_SECONDS", 0, 0, Integer.MAX_VALUE);
        return Duration.ofSeconds(seconds > 10 ? seconds - 5 : Math.max(1, seconds - 1));
    }
}
