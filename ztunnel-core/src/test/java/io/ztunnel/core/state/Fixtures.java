package io.ztunnel.core.state;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** Short-hands for building states in tests. */
public final class Fixtures {
    private Fixtures() {}

    public static InetAddress ip(String text) {
        try {
            return InetAddress.getByName(text);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    public static InetSocketAddress addr(String ip, int port) {
        return new InetSocketAddress(ip(ip), port);
    }

    public static NetworkAddress vip(String ip) {
        return new NetworkAddress("", ip(ip));
    }

    /** An HBONE pod {@code ns/name} with service account {@code name} at the given IPs. */
    public static Workload.Builder pod(String ns, String name, String... ips) {
        return Workload.builder("Kubernetes//Pod/" + ns + "/" + name)
                .name(name)
                .namespace(ns)
                .serviceAccount(name)
                .tunnelProtocol(Workload.TunnelProtocol.HBONE)
                .addresses(Arrays.stream(ips).map(Fixtures::ip).toList());
    }

    public static Service.Builder service(String ns, String name, String vip, Map<Integer, Integer> ports) {
        return Service.builder(ns, name, name + "." + ns + ".svc.cluster.local")
                .vips(List.of(vip(vip)))
                .ports(ports);
    }

    /** The membership entry a workload lists for a service: key → port map. */
    public static Map<String, Map<Integer, Integer>> memberOf(Service service, Map<Integer, Integer> ports) {
        return Map.of(service.key(), ports);
    }

    public static ProxyState state(List<Workload> workloads, List<Service> services) {
        return ProxyState.of(workloads, services, List.of());
    }
}
