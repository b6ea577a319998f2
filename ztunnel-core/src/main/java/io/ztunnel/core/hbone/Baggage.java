package io.ztunnel.core.hbone;

import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * Workload metadata carried in the W3C {@code baggage} header of HBONE requests (the source) and responses (the
 * destination), with the keys Istio uses. Empty values are left out when encoding. Immutable.
 */
public record Baggage(
        String clusterId,
        String namespace,
        String workloadType,
        String workloadName,
        String serviceName,
        String serviceVersion,
        String region,
        String zone) {

    public static final Baggage EMPTY = new Baggage("", "", "", "", "", "", "", "");
    private static final List<String> WORKLOAD_TYPES = List.of("deployment", "cronjob", "pod", "job");

    public Baggage {
        clusterId = nz(clusterId);
        namespace = nz(namespace);
        workloadType = nz(workloadType);
        workloadName = nz(workloadName);
        serviceName = nz(serviceName);
        serviceVersion = nz(serviceVersion);
        region = nz(region);
        zone = nz(zone);
    }

    /** The header value, e.g. {@code k8s.cluster.name=Kubernetes,k8s.namespace.name=default,...}. */
    public String encode() {
        List<String> parts = new ArrayList<>(7);
        add(parts, "k8s.cluster.name", clusterId);
        add(parts, "k8s.namespace.name", namespace);
        if (!workloadType.isEmpty()) {
            add(parts, "k8s." + workloadType + ".name", workloadName);
        }
        add(parts, "service.name", serviceName);
        add(parts, "service.version", serviceVersion);
        add(parts, "cloud.region", region);
        add(parts, "cloud.availability_zone", zone);
        return String.join(",", parts);
    }

    /** Parses a header value leniently: unknown keys and malformed members are ignored, never an error. */
    public static Baggage parse(@Nullable CharSequence header) {
        if (header == null) {
            return EMPTY;
        }
        String cluster = "", ns = "", type = "", name = "", service = "", version = "", region = "", zone = "";
        for (String member : header.toString().split(",")) {
            int semi = member.indexOf(';');
            String kv = semi >= 0 ? member.substring(0, semi) : member;
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                continue;
            }
            String key = kv.substring(0, eq).trim();
            String value = kv.substring(eq + 1).trim();
            if (value.isEmpty()) {
                continue; // as absent: "k8s.pod.name=" names no workload (and gives it no type)
            }
            switch (key) {
                case "k8s.cluster.name" -> cluster = value;
                case "k8s.namespace.name" -> ns = value;
                case "service.name" -> service = value;
                case "service.version" -> version = value;
                case "cloud.region" -> region = value;
                case "cloud.availability_zone" -> zone = value;
                default -> {
                    for (String t : WORKLOAD_TYPES) {
                        if (key.equals("k8s." + t + ".name")) {
                            type = t;
                            name = value;
                        }
                    }
                }
            }
        }
        return new Baggage(cluster, ns, type, name, service, version, region, zone);
    }

    private static void add(List<String> parts, String key, String value) {
        if (!value.isEmpty()) {
            parts.add(key + "=" + value);
        }
    }

    private static String nz(String s) {
        return s == null ? "" : s;
    }
}
