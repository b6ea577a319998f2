package io.ztunnel.core.state;

import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A service: VIPs, port mapping and routing policy, every field of {@code istio.workload.Service} that changes
 * behaviour. Endpoints are not stored here; they come from workloads' {@code services} maps (see {@link ProxyState}).
 * Immutable.
 *
 * @param ports service port → target port; a target of 0 means a named port resolved per endpoint
 */
public record Service(
        String name,
        String namespace,
        String hostname,
        List<NetworkAddress> vips,
        List<CidrVip> cidrVips,
        Map<Integer, Integer> ports,
        List<String> subjectAltNames,
        @Nullable GatewayAddress waypoint,
        List<WeightedWaypoint> weightedWaypoints,
        @Nullable LoadBalancing loadBalancing,
        IpFamilies ipFamilies,
        boolean canonical,
        Visibility visibility) {

    public Service {
        vips = List.copyOf(vips);
        cidrVips = cidrVips == null ? List.of() : List.copyOf(cidrVips);
        ports = Map.copyOf(ports);
        subjectAltNames = subjectAltNames == null ? List.of() : List.copyOf(subjectAltNames);
        weightedWaypoints = weightedWaypoints == null ? List.of() : List.copyOf(weightedWaypoints);
        ipFamilies = ipFamilies == null ? IpFamilies.AUTOMATIC : ipFamilies;
        visibility = visibility == null ? Visibility.PUBLIC : visibility;
    }

    public NamespacedHostname namespacedHostname() {
        return new NamespacedHostname(namespace, hostname);
    }

    /** The xDS resource name, {@code namespace/hostname}. */
    public String key() {
        return namespace + "/" + hostname;
    }

    public boolean visibleTo(String clientNamespace) {
        return visibility == Visibility.PUBLIC || namespace.equals(clientNamespace);
    }

    /** A CIDR VIP: any address in the prefix, on a network. */
    public record CidrVip(String network, Cidr cidr) {}

    /** A waypoint chosen at random in proportion to its weight, per connection. */
    public record WeightedWaypoint(GatewayAddress destination, int weight) {}

    /** Locality-aware endpoint selection and health handling. */
    public record LoadBalancing(List<Scope> routingPreference, Mode mode, HealthPolicy healthPolicy) {
        public LoadBalancing {
            routingPreference = routingPreference == null ? List.of() : List.copyOf(routingPreference);
            mode = mode == null ? Mode.UNSPECIFIED : mode;
            healthPolicy = healthPolicy == null ? HealthPolicy.ONLY_HEALTHY : healthPolicy;
        }

        public enum Scope {
            REGION,
            ZONE,
            SUBZONE,
            NODE,
            CLUSTER,
            NETWORK
        }

        public enum Mode {
            UNSPECIFIED,
            STRICT,
            FAILOVER,
            PASSTHROUGH
        }

        public enum HealthPolicy {
            ONLY_HEALTHY,
            ALLOW_ALL
        }
    }

    public enum IpFamilies {
        AUTOMATIC,
        IPV4_ONLY,
        IPV6_ONLY,
        DUAL
    }

    public enum Visibility {
        PUBLIC,
        NAMESPACE
    }

    public static Builder builder(String namespace, String name, String hostname) {
        return new Builder(namespace, name, hostname);
    }

    /** Mutable builder for {@link Service}. Not thread-safe. */
    public static final class Builder {
        private final String namespace;
        private final String name;
        private final String hostname;
        private List<NetworkAddress> vips = List.of();
        private List<CidrVip> cidrVips = List.of();
        private Map<Integer, Integer> ports = Map.of();
        private List<String> subjectAltNames = List.of();
        private @Nullable GatewayAddress waypoint;
        private List<WeightedWaypoint> weightedWaypoints = List.of();
        private @Nullable LoadBalancing loadBalancing;
        private IpFamilies ipFamilies = IpFamilies.AUTOMATIC;
        private boolean canonical;
        private Visibility visibility = Visibility.PUBLIC;

        private Builder(String namespace, String name, String hostname) {
            this.namespace = namespace;
            this.name = name;
            this.hostname = hostname;
        }

        public Builder vips(List<NetworkAddress> v) {
            vips = v;
            return this;
        }

        public Builder cidrVips(List<CidrVip> v) {
            cidrVips = v;
            return this;
        }

        public Builder ports(Map<Integer, Integer> v) {
            ports = v;
            return this;
        }

        public Builder subjectAltNames(List<String> v) {
            subjectAltNames = v;
            return this;
        }

        public Builder waypoint(@Nullable GatewayAddress v) {
            waypoint = v;
            return this;
        }

        public Builder weightedWaypoints(List<WeightedWaypoint> v) {
            weightedWaypoints = v;
            return this;
        }

        public Builder loadBalancing(@Nullable LoadBalancing v) {
            loadBalancing = v;
            return this;
        }

        public Builder ipFamilies(IpFamilies v) {
            ipFamilies = v;
            return this;
        }

        public Builder canonical(boolean v) {
            canonical = v;
            return this;
        }

        public Builder visibility(Visibility v) {
            visibility = v;
            return this;
        }

        public Service build() {
            return new Service(
                    name,
                    namespace,
                    hostname,
                    vips,
                    cidrVips,
                    ports,
                    subjectAltNames,
                    waypoint,
                    weightedWaypoints,
                    loadBalancing,
                    ipFamilies,
                    canonical,
                    visibility);
        }
    }
}
