package io.ztunnel.core.state;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.jspecify.annotations.Nullable;

/**
 * One immutable snapshot of everything the data plane needs: workloads, services, authorization policies and the
 * indexes over them. The control plane builds a new snapshot for every change and swaps it in atomically
 * ({@link StateStore}); the data plane only reads snapshots, so a connection sees one consistent view.
 *
 * <p>Indexes: workloads by uid and by {@code network/IP} (host-network workloads are not indexed by IP; when several
 * share an IP, a uid containing {@code //Pod/} wins, then HBONE), services by {@code namespace/hostname}, by VIP and by
 * CIDR VIP, endpoints of each service from the workloads' {@code services} maps (so a service that arrives after its
 * endpoints has them), policies by key, by namespace and global.
 */
public final class ProxyState {

    /** A workload serving a service, with its own service-port → target-port overrides. */
    public record Endpoint(Workload workload, Map<Integer, Integer> ports) {}

    public static final ProxyState EMPTY = of(List.of(), List.of(), List.of());

    private final Map<String, Workload> workloadsByUid;
    private final Map<NetworkAddress, Workload> workloadsByAddress;
    private final Map<String, Service> servicesByKey;
    private final Map<NetworkAddress, List<Service>> servicesByVip;
    private final List<Service> cidrServices;
    private final Map<String, List<Service>> servicesByHostname;
    private final Map<String, List<Endpoint>> endpointsByService;
    private final Map<String, List<Service>> servicesByWorkload;
    private final Map<String, Authorization> policiesByKey;
    private final Map<String, List<Authorization>> policiesByNamespace;
    private final List<Authorization> globalPolicies;
    private final List<String> stagedServices;

    private ProxyState(
            Collection<Workload> workloads, Collection<Service> services, Collection<Authorization> policies) {
        Map<String, Workload> byUid = new LinkedHashMap<>();
        for (Workload w : workloads) {
            byUid.put(w.uid(), w);
        }
        this.workloadsByUid = Map.copyOf(byUid);

        Map<NetworkAddress, Workload> byAddress = new HashMap<>();
        for (Workload w : byUid.values()) {
            if (w.networkMode() == Workload.NetworkMode.HOST_NETWORK) {
                continue;
            }
            for (InetAddress ip : w.addresses()) {
                byAddress.merge(new NetworkAddress(w.network(), ip), w, ProxyState::preferred);
            }
        }
        this.workloadsByAddress = Map.copyOf(byAddress);

        Map<String, Service> byKey = new LinkedHashMap<>();
        for (Service s : services) {
            byKey.put(s.key(), s);
        }
        this.servicesByKey = Map.copyOf(byKey);
        Map<NetworkAddress, List<Service>> byVip = new HashMap<>();
        Map<String, List<Service>> byHostname = new HashMap<>();
        List<Service> cidr = new ArrayList<>();
        for (Service s : byKey.values()) {
            for (NetworkAddress vip : s.vips()) {
                byVip.computeIfAbsent(vip, k -> new ArrayList<>()).add(s);
            }
            if (!s.cidrVips().isEmpty()) {
                cidr.add(s);
            }
            byHostname.computeIfAbsent(s.hostname(), k -> new ArrayList<>()).add(s);
        }
        this.servicesByVip = freeze(byVip);
        this.cidrServices = List.copyOf(cidr);
        this.servicesByHostname = freeze(byHostname);

        Map<String, List<Endpoint>> endpoints = new HashMap<>();
        Map<String, List<Service>> byWorkload = new HashMap<>();
        TreeSet<String> staged = new TreeSet<>();
        for (Workload w : byUid.values()) {
            for (Map.Entry<String, Map<Integer, Integer>> membership :
                    w.services().entrySet()) {
                endpoints
                        .computeIfAbsent(membership.getKey(), k -> new ArrayList<>())
                        .add(new Endpoint(w, membership.getValue()));
                Service service = byKey.get(membership.getKey());
                if (service == null) {
                    staged.add(membership.getKey());
                } else {
                    byWorkload.computeIfAbsent(w.uid(), k -> new ArrayList<>()).add(service);
                }
            }
        }
        this.endpointsByService = freeze(endpoints);
        this.servicesByWorkload = freeze(byWorkload);
        this.stagedServices = List.copyOf(staged);

        Map<String, Authorization> policyByKey = new LinkedHashMap<>();
        for (Authorization p : policies) {
            policyByKey.put(p.key(), p);
        }
        this.policiesByKey = Map.copyOf(policyByKey);
        Map<String, List<Authorization>> byNamespace = new HashMap<>();
        List<Authorization> global = new ArrayList<>();
        for (Authorization p : policyByKey.values()) {
            switch (p.scope()) {
                case GLOBAL -> global.add(p);
                case NAMESPACE ->
                    byNamespace
                            .computeIfAbsent(p.namespace(), k -> new ArrayList<>())
                            .add(p);
                case WORKLOAD_SELECTOR -> {} // reached through Workload.authorizationPolicies
            }
        }
        this.policiesByNamespace = freeze(byNamespace);
        this.globalPolicies = List.copyOf(global);
    }

    public static ProxyState of(
            Collection<Workload> workloads, Collection<Service> services, Collection<Authorization> policies) {
        return new ProxyState(workloads, services, policies);
    }

    /** The workload that answers for an IP when several claim it: a Kubernetes pod first, then one speaking HBONE. */
    private static Workload preferred(Workload a, Workload b) {
        int byPod = Boolean.compare(b.uid().contains("//Pod/"), a.uid().contains("//Pod/"));
        if (byPod != 0) {
            return byPod < 0 ? b : a;
        }
        int byHbone = Boolean.compare(b.speaksHbone(), a.speaksHbone());
        if (byHbone != 0) {
            return byHbone < 0 ? b : a;
        }
        return a.uid().compareTo(b.uid()) <= 0 ? a : b;
    }

    private static <K, V> Map<K, List<V>> freeze(Map<K, List<V>> map) {
        Map<K, List<V>> out = new HashMap<>(map.size() * 2);
        map.forEach((k, v) -> out.put(k, List.copyOf(v)));
        return Map.copyOf(out);
    }

    public @Nullable Workload workload(String uid) {
        return workloadsByUid.get(uid);
    }

    public @Nullable Workload workloadByAddress(NetworkAddress address) {
        return workloadsByAddress.get(address);
    }

    public @Nullable Service service(String key) {
        return servicesByKey.get(key);
    }

    public @Nullable Service service(NamespacedHostname name) {
        return servicesByKey.get(name.key());
    }

    /** Every service with exactly this VIP (several services may share one). */
    public List<Service> servicesByVip(NetworkAddress vip) {
        return servicesByVip.getOrDefault(vip, List.of());
    }

    /** Services with a CIDR VIP containing the address: the longest prefix first. */
    public List<Service> servicesByCidr(NetworkAddress address) {
        List<Service> matches = new ArrayList<>();
        for (Service s : cidrServices) {
            for (Service.CidrVip v : s.cidrVips()) {
                if (v.network().equals(address.network()) && v.cidr().contains(address.address())) {
                    matches.add(s);
                    break;
                }
            }
        }
        matches.sort(Comparator.comparingInt((Service s) -> longestPrefix(s, address))
                .reversed());
        return matches;
    }

    private static int longestPrefix(Service s, NetworkAddress address) {
        int best = -1;
        for (Service.CidrVip v : s.cidrVips()) {
            if (v.network().equals(address.network()) && v.cidr().contains(address.address())) {
                best = Math.max(best, v.cidr().prefixLength());
            }
        }
        return best;
    }

    /** Services with this host name, in any namespace. */
    public List<Service> servicesByHostname(String hostname) {
        return servicesByHostname.getOrDefault(hostname, List.of());
    }

    /** The endpoints of a service (known workloads that list it in their {@code services}). */
    public List<Endpoint> endpoints(Service service) {
        return endpointsByService.getOrDefault(service.key(), List.of());
    }

    /** The known services a workload is an endpoint of. */
    public List<Service> servicesOf(Workload workload) {
        return servicesByWorkload.getOrDefault(workload.uid(), List.of());
    }

    public @Nullable Authorization policy(String key) {
        return policiesByKey.get(key);
    }

    public List<Authorization> namespacePolicies(String namespace) {
        return policiesByNamespace.getOrDefault(namespace, List.of());
    }

    public List<Authorization> globalPolicies() {
        return globalPolicies;
    }

    /** Workloads sorted by uid (as {@code /config_dump} lists them). */
    public List<Workload> workloads() {
        return List.copyOf(new TreeMap<>(workloadsByUid).values());
    }

    public List<Service> services() {
        return List.copyOf(new TreeMap<>(servicesByKey).values());
    }

    public List<Authorization> policies() {
        return List.copyOf(new TreeMap<>(policiesByKey).values());
    }

    /** Services named by workloads' memberships that have not arrived (yet). */
    public List<String> stagedServices() {
        return stagedServices;
    }

    public int workloadCount() {
        return workloadsByUid.size();
    }
}
