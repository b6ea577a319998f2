package io.ztunnel.core.state;

import io.ztunnel.core.identity.SpiffeId;
import java.net.InetAddress;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * One workload (a pod, or any endpoint) as the data plane sees it: every field of {@code istio.workload.Workload} that
 * changes behaviour, with upstream's defaults already applied (trust domain {@code cluster.local}, service account
 * {@code default}, cluster {@code Kubernetes}, capacity 1). Immutable.
 *
 * @param services endpoint membership: {@code namespace/hostname} → service port → target port (0 = unmapped)
 */
public record Workload(
        String uid,
        String name,
        String namespace,
        List<InetAddress> addresses,
        String hostname,
        String network,
        TunnelProtocol tunnelProtocol,
        String trustDomain,
        String serviceAccount,
        @Nullable GatewayAddress waypoint,
        @Nullable GatewayAddress networkGateway,
        String node,
        String canonicalName,
        String canonicalRevision,
        WorkloadType workloadType,
        String workloadName,
        boolean nativeTunnel,
        @Nullable ApplicationTunnel applicationTunnel,
        Map<String, Map<Integer, Integer>> services,
        List<String> authorizationPolicies,
        HealthStatus status,
        String clusterId,
        Locality locality,
        NetworkMode networkMode,
        int capacity) {

    public static final String DEFAULT_TRUST_DOMAIN = "cluster.local";
    public static final String DEFAULT_SERVICE_ACCOUNT = "default";
    public static final String DEFAULT_CLUSTER = "Kubernetes";

    public Workload {
        Objects.requireNonNull(uid, "uid");
        name = nz(name);
        namespace = nz(namespace);
        addresses = List.copyOf(addresses);
        hostname = nz(hostname);
        network = nz(network);
        tunnelProtocol = tunnelProtocol == null ? TunnelProtocol.NONE : tunnelProtocol;
        trustDomain = trustDomain == null || trustDomain.isEmpty() ? DEFAULT_TRUST_DOMAIN : trustDomain;
        serviceAccount = serviceAccount == null || serviceAccount.isEmpty() ? DEFAULT_SERVICE_ACCOUNT : serviceAccount;
        node = nz(node);
        canonicalName = nz(canonicalName);
        canonicalRevision = nz(canonicalRevision);
        workloadType = workloadType == null ? WorkloadType.DEPLOYMENT : workloadType;
        workloadName = nz(workloadName);
        services = services == null ? Map.of() : Map.copyOf(services);
        authorizationPolicies = authorizationPolicies == null ? List.of() : List.copyOf(authorizationPolicies);
        status = status == null ? HealthStatus.HEALTHY : status;
        clusterId = clusterId == null || clusterId.isEmpty() ? DEFAULT_CLUSTER : clusterId;
        locality = locality == null ? Locality.NONE : locality;
        networkMode = networkMode == null ? NetworkMode.STANDARD : networkMode;
    }

    /** {@code spiffe://<trust domain>/ns/<namespace>/sa/<service account>}. */
    public SpiffeId identity() {
        return new SpiffeId(trustDomain, namespace, serviceAccount);
    }

    /** Whether this workload terminates HBONE itself or through its node's ztunnel. */
    public boolean speaksHbone() {
        return tunnelProtocol == TunnelProtocol.HBONE || nativeTunnel;
    }

    private static String nz(String s) {
        return s == null ? "" : s;
    }

    /** How traffic reaches the workload. */
    public enum TunnelProtocol {
        NONE,
        HBONE
    }

    /** Workload controller kind, for telemetry ({@code k8s.<type>.name} in baggage). */
    public enum WorkloadType {
        DEPLOYMENT,
        CRONJOB,
        POD,
        JOB;

        public String baggageName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Whether the workload receives load-balanced traffic. */
    public enum HealthStatus {
        HEALTHY,
        UNHEALTHY
    }

    /** Host-network workloads share the node's IP and are never looked up by IP. */
    public enum NetworkMode {
        STANDARD,
        HOST_NETWORK
    }

    /** PROXY-protocol delivery to a workload that terminates HBONE itself (e.g. a waypoint). */
    public record ApplicationTunnel(Protocol protocol, int port) {
        public enum Protocol {
            NONE,
            PROXY
        }
    }

    public static Builder builder(String uid) {
        return new Builder(uid);
    }

    public Builder toBuilder() {
        Builder b = new Builder(uid);
        b.name = name;
        b.namespace = namespace;
        b.addresses = addresses;
        b.hostname = hostname;
        b.network = network;
        b.tunnelProtocol = tunnelProtocol;
        b.trustDomain = trustDomain;
        b.serviceAccount = serviceAccount;
        b.waypoint = waypoint;
        b.networkGateway = networkGateway;
        b.node = node;
        b.canonicalName = canonicalName;
        b.canonicalRevision = canonicalRevision;
        b.workloadType = workloadType;
        b.workloadName = workloadName;
        b.nativeTunnel = nativeTunnel;
        b.applicationTunnel = applicationTunnel;
        b.services = services;
        b.authorizationPolicies = authorizationPolicies;
        b.status = status;
        b.clusterId = clusterId;
        b.locality = locality;
        b.networkMode = networkMode;
        b.capacity = capacity;
        return b;
    }

    /** Mutable builder for {@link Workload}; unset fields take upstream's defaults. Not thread-safe. */
    public static final class Builder {
        private final String uid;
        private String name = "";
        private String namespace = "";
        private List<InetAddress> addresses = List.of();
        private String hostname = "";
        private String network = "";
        private TunnelProtocol tunnelProtocol = TunnelProtocol.NONE;
        private String trustDomain = "";
        private String serviceAccount = "";
        private @Nullable GatewayAddress waypoint;
        private @Nullable GatewayAddress networkGateway;
        private String node = "";
        private String canonicalName = "";
        private String canonicalRevision = "";
        private WorkloadType workloadType = WorkloadType.DEPLOYMENT;
        private String workloadName = "";
        private boolean nativeTunnel;
        private @Nullable ApplicationTunnel applicationTunnel;
        private Map<String, Map<Integer, Integer>> services = Map.of();
        private List<String> authorizationPolicies = List.of();
        private HealthStatus status = HealthStatus.HEALTHY;
        private String clusterId = "";
        private Locality locality = Locality.NONE;
        private NetworkMode networkMode = NetworkMode.STANDARD;
        private int capacity = 1;

        private Builder(String uid) {
            this.uid = uid;
        }

        public Builder name(String v) {
            name = v;
            return this;
        }

        public Builder namespace(String v) {
            namespace = v;
            return this;
        }

        public Builder addresses(List<InetAddress> v) {
            addresses = v;
            return this;
        }

        public Builder hostname(String v) {
            hostname = v;
            return this;
        }

        public Builder network(String v) {
            network = v;
            return this;
        }

        public Builder tunnelProtocol(TunnelProtocol v) {
            tunnelProtocol = v;
            return this;
        }

        public Builder trustDomain(String v) {
            trustDomain = v;
            return this;
        }

        public Builder serviceAccount(String v) {
            serviceAccount = v;
            return this;
        }

        public Builder waypoint(@Nullable GatewayAddress v) {
            waypoint = v;
            return this;
        }

        public Builder networkGateway(@Nullable GatewayAddress v) {
            networkGateway = v;
            return this;
        }

        public Builder node(String v) {
            node = v;
            return this;
        }

        public Builder canonicalName(String v) {
            canonicalName = v;
            return this;
        }

        public Builder canonicalRevision(String v) {
            canonicalRevision = v;
            return this;
        }

        public Builder workloadType(WorkloadType v) {
            workloadType = v;
            return this;
        }

        public Builder workloadName(String v) {
            workloadName = v;
            return this;
        }

        public Builder nativeTunnel(boolean v) {
            nativeTunnel = v;
            return this;
        }

        public Builder applicationTunnel(@Nullable ApplicationTunnel v) {
            applicationTunnel = v;
            return this;
        }

        public Builder services(Map<String, Map<Integer, Integer>> v) {
            services = v;
            return this;
        }

        public Builder authorizationPolicies(List<String> v) {
            authorizationPolicies = v;
            return this;
        }

        public Builder status(HealthStatus v) {
            status = v;
            return this;
        }

        public Builder clusterId(String v) {
            clusterId = v;
            return this;
        }

        public Builder locality(Locality v) {
            locality = v;
            return this;
        }

        public Builder networkMode(NetworkMode v) {
            networkMode = v;
            return this;
        }

        public Builder capacity(int v) {
            capacity = v;
            return this;
        }

        public Workload build() {
            return new Workload(
                    uid,
                    name,
                    namespace,
                    addresses,
                    hostname,
                    network,
                    tunnelProtocol,
                    trustDomain,
                    serviceAccount,
                    waypoint,
                    networkGateway,
                    node,
                    canonicalName,
                    canonicalRevision,
                    workloadType,
                    workloadName,
                    nativeTunnel,
                    applicationTunnel,
                    services,
                    authorizationPolicies,
                    status,
                    clusterId,
                    locality,
                    networkMode,
                    capacity);
        }
    }
}
