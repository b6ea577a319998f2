package io.ztunnel.core.dns;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The host names a query may mean, from the point of view of a client pod, in the order Istio's ztunnel tries them:
 * the name as asked; its Kubernetes expansions; then, for each search domain the name ends with, the name with that
 * domain stripped and the stripped name's expansions. Each candidate is then looked up as itself and as wildcards of
 * decreasing specificity ({@link #wildcards}).
 *
 * <p>Expansions ({@code NS} = the client's namespace, {@code D} = {@code CLUSTER_DOMAIN}): one label → {@code x.NS.svc.D};
 * two → {@code a.b.svc.D}, then {@code a.b.NS.svc.D}; three → {@code a.b.svc.D} when the last label is {@code svc},
 * always {@code a.b.c.svc.D}; four ending in {@code svc} → {@code a.b.c.svc.D}. Search domains are compared without
 * regard to case (as DNS names are); host names are looked up exactly as written, as upstream does.
 *
 * <p>Names here carry no trailing dot. Stateless; thread-safe.
 */
final class DnsNames {
    private DnsNames() {}

    /**
     * A candidate host name.
     *
     * @param name the host name to look up
     * @param stripped the query name with a search domain removed, when this candidate came from one (then a match
     *     is answered with a CNAME to it), else null
     */
    record Alias(String name, @Nullable String stripped) {}

    /** The candidates for {@code query} (no trailing dot), first match wins; duplicates keep their first place. */
    static List<Alias> aliases(String query, String namespace, String clusterDomain, List<String> searchDomains) {
        Map<String, Alias> out = new LinkedHashMap<>();
        out.putIfAbsent(query, new Alias(query, null));
        for (String e : expansions(query, namespace, clusterDomain)) {
            out.putIfAbsent(e, new Alias(e, null));
        }
        for (String domain : searchDomains) {
            String stripped = strip(query, domain);
            if (stripped == null) {
                continue;
            }
            out.putIfAbsent(stripped, new Alias(stripped, stripped));
            for (String e : expansions(stripped, namespace, clusterDomain)) {
                out.putIfAbsent(e, new Alias(e, stripped));
            }
        }
        return List.copyOf(out.values());
    }

    /** The Kubernetes forms of a short name (see the class comment); empty for anything else. */
    static List<String> expansions(String name, String namespace, String clusterDomain) {
        String[] labels = name.split("\\.", -1);
        String svc = "svc." + clusterDomain;
        boolean lastIsSvc = labels[labels.length - 1].equalsIgnoreCase("svc");
        return switch (labels.length) {
            case 1 -> List.of(name + "." + namespace + "." + svc);
            case 2 -> List.of(name + "." + svc, name + "." + namespace + "." + svc);
            case 3 -> lastIsSvc ? List.of(name + "." + clusterDomain, name + "." + svc) : List.of(name + "." + svc);
            case 4 -> lastIsSvc ? List.of(name + "." + clusterDomain) : List.of();
            default -> List.of();
        };
    }

    /** {@code name} without the trailing labels equal to {@code domain}, or null (nothing would be left, or no match). */
    static @Nullable String strip(String name, String domain) {
        if (domain.isEmpty() || domain.startsWith("*")) {
            return null;
        }
        int cut = name.length() - domain.length();
        if (cut < 2 || name.charAt(cut - 1) != '.' || !name.regionMatches(true, cut, domain, 0, domain.length())) {
            return null;
        }
        return name.substring(0, cut - 1);
    }

    /** {@code name} itself, then {@code *.} + each shorter suffix with at least one label: a.b.c, *.b.c, *.c. */
    static List<String> wildcards(String name) {
        List<String> out = new ArrayList<>();
        out.add(name);
        int dot = name.indexOf('.');
        while (dot >= 0) {
            String rest = name.substring(dot + 1);
            out.add("*." + rest);
            name = rest;
            dot = name.indexOf('.');
        }
        return out;
    }
}
