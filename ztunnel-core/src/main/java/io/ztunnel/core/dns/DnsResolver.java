package io.ztunnel.core.dns;

import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * Answers A and AAAA queries from the immutable state snapshot, as Istio's ztunnel does; everything else is for the
 * forwarder.
 *
 * <ul>
 *   <li>Only A and AAAA are answered here; other types, and names that match no service, are forwarded.
 *   <li>Names are matched through {@link DnsNames}; the first candidate (as itself or as a wildcard) that names an
 *       eligible service wins. Eligible: services with VIPs (ServiceEntry auto-allocated VIPs included), and VIP-less
 *       ones whose host ends in {@code .svc.<CLUSTER_DOMAIN>} (headless); services visible only in their own
 *       namespace are skipped for clients of other namespaces. Workload host names are never answered (upstream does
 *       not either; they are forwarded).
 *   <li>Several services with one host name: the client's namespace wins at once, else the last canonical one, else
 *       one in {@code PREFERED_SERVICE_NAMESPACE}, else the first.
 *   <li>Addresses: the VIPs on the client's network of the asked family; for a headless service, the first address
 *       of that family of each endpoint workload, on any network. Shuffled on every answer.
 *   <li>An empty authoritative NOERROR (never NXDOMAIN) when AAAA is asked with {@code IPV6_ENABLED=false}, when the
 *       service's IP families exclude the asked family, or when no address matches.
 * </ul>
 *
 * <p>Immutable and thread-safe; every call reads one snapshot.
 */
final class DnsResolver {
    static final int TYPE_A = 1;
    static final int TYPE_AAAA = 28;

    /** What to do with a query. */
    sealed interface Result permits Forward, Local {}

    /** Not ours: ask the upstream resolvers. */
    record Forward() implements Result {}

    /**
     * Answered here (authoritatively).
     *
     * @param owner the name the address records are owned by (trailing dot)
     * @param cnameFrom when not null, answer a CNAME from this name (the query's) to {@code owner} first
     * @param addresses the addresses, shuffled; empty for an empty answer
     * @param logResult the access log's {@code result}
     */
    record Local(String owner, @Nullable String cnameFrom, List<InetAddress> addresses, String logResult)
            implements Result {}

    static final Forward FORWARD = new Forward();

    private final String clusterDomain;
    private final String headlessSuffix;
    private final boolean ipv6Enabled;
    private final String preferredNamespace;
    private final Function<Workload, List<String>> searchDomains;

    /**
     * @param searchDomains the search list a client uses: in shared mode {@code NS.svc.D, svc.D, D} for the client's
     *     namespace, in dedicated mode the daemon's own {@code resolv.conf} list
     */
    DnsResolver(
            String clusterDomain,
            boolean ipv6Enabled,
            String preferredNamespace,
            Function<Workload, List<String>> searchDomains) {
        this.clusterDomain = clusterDomain;
        this.headlessSuffix = ".svc." + clusterDomain;
        this.ipv6Enabled = ipv6Enabled;
        this.preferredNamespace = preferredNamespace == null ? "" : preferredNamespace;
        this.searchDomains = searchDomains;
    }

    /** Shared mode's per-pod search list: {@code NS.svc.D}, {@code svc.D}, {@code D}. */
    static Function<Workload, List<String>> podSearchDomains(String clusterDomain) {
        return w -> List.of(w.namespace() + ".svc." + clusterDomain, "svc." + clusterDomain, clusterDomain);
    }

    /**
     * @param name the query name as asked, with its trailing dot
     * @param type the query type's code
     */
    Result resolve(ProxyState state, Workload client, String name, int type) {
        if (type != TYPE_A && type != TYPE_AAAA) {
            return FORWARD;
        }
        String query = name.endsWith(".") ? name.substring(0, name.length() - 1) : name;
        if (query.isEmpty()) {
            return FORWARD;
        }
        for (DnsNames.Alias alias :
                DnsNames.aliases(query, client.namespace(), clusterDomain, searchDomains.apply(client))) {
            for (String key : DnsNames.wildcards(alias.name())) {
                Service service = choose(state.servicesByHostname(key), client.namespace());
                if (service != null) {
                    return answer(state, client, service, name, alias, key.startsWith("*."), type);
                }
            }
        }
        return FORWARD;
    }

    private @Nullable Service choose(List<Service> candidates, String clientNamespace) {
        Service canonical = null;
        Service preferred = null;
        Service first = null;
        for (Service s : candidates) {
            if (!eligible(s) || !s.visibleTo(clientNamespace)) {
                continue;
            }
            if (s.namespace().equals(clientNamespace)) {
                return s;
            }
            if (s.canonical()) {
                canonical = s;
            }
            if (preferred == null
                    && !preferredNamespace.isEmpty()
                    && s.namespace().equals(preferredNamespace)) {
                preferred = s;
            }
            if (first == null) {
                first = s;
            }
        }
        return canonical != null ? canonical : preferred != null ? preferred : first;
    }

    private boolean eligible(Service s) {
        return !s.vips().isEmpty() || s.hostname().endsWith(headlessSuffix);
    }

    private Local answer(
            ProxyState state,
            Workload client,
            Service service,
            String name,
            DnsNames.Alias alias,
            boolean wildcard,
            int type) {
        boolean v6 = type == TYPE_AAAA;
        if (!familyAllowed(service, v6)) {
            return new Local(name, null, List.of(), "service does not support this record type");
        }
        List<InetAddress> addresses = new ArrayList<>();
        if (service.vips().isEmpty()) {
            for (ProxyState.Endpoint e : state.endpoints(service)) {
                for (InetAddress ip : e.workload().addresses()) {
                    if (isFamily(ip, v6)) {
                        addresses.add(ip);
                        break;
                    }
                }
            }
        } else {
            for (NetworkAddress vip : service.vips()) {
                if (vip.network().equals(client.network()) && isFamily(vip.address(), v6)) {
                    addresses.add(vip.address());
                }
            }
        }
        if (addresses.isEmpty()) {
            return new Local(name, null, List.of(), "no records");
        }
        Collections.shuffle(addresses, ThreadLocalRandom.current());
        if (alias.stripped() != null && !wildcard) {
            return new Local(alias.stripped() + ".", name, List.copyOf(addresses), "success");
        }
        return new Local(name, null, List.copyOf(addresses), "success");
    }

    private boolean familyAllowed(Service service, boolean v6) {
        if (v6 && !ipv6Enabled) {
            return false;
        }
        return switch (service.ipFamilies()) {
            case IPV4_ONLY -> !v6;
            case IPV6_ONLY -> v6;
            default -> true;
        };
    }

    private boolean isFamily(InetAddress ip, boolean v6) {
        return v6 ? ip instanceof Inet6Address && ipv6Enabled : ip instanceof Inet4Address;
    }
}
