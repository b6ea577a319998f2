package io.ztunnel.bench.jmh;

import io.ztunnel.core.control.LocalConfigSource;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.util.Errors;
import io.ztunnel.xds.local.LocalConfigParser;

/**
 * A large mesh for the microbenchmarks, built through the local config parser (the same path as {@code LOCAL_XDS_PATH}):
 * {@code workloads} pods spread over 100 namespaces ({@code ns0..ns99}), IPs {@code 10.x.y.z}; one service per 10
 * pods with a VIP in {@code 172.16/12}, port 80 → 8080; and {@code policies} ALLOW policies in namespace {@code ns0}
 * each naming one principal, the last one naming {@code client}'s, so an allowed connection walks all of them.
 */
public final class MeshFixture {
    private MeshFixture() {}

    public static String workloadIp(int i) {
        return "10." + ((i >> 16) & 0xff) + "." + ((i >> 8) & 0xff) + "." + (i & 0xff);
    }

    public static String vip(int s) {
        return "172." + (16 + (s >> 16 & 0x0f)) + "." + (s >> 8 & 0xff) + "." + (s & 0xff);
    }

    public static ProxyState build(int workloads, int policies) {
        StringBuilder y = new StringBuilder(workloads * 300 + policies * 200);
        y.append("workloads:\n");
        for (int i = 0; i < workloads; i++) {
            String ns = "ns" + (i % 100);
            y.append("- uid: Kubernetes//Pod/")
                    .append(ns)
                    .append("/pod-")
                    .append(i)
                    .append('\n')
                    .append("  name: pod-")
                    .append(i)
                    .append('\n')
                    .append("  namespace: ")
                    .append(ns)
                    .append('\n')
                    .append("  serviceAccount: sa-")
                    .append(i % 1000)
                    .append('\n')
                    .append("  workloadIps: [\"")
                    .append(workloadIp(i + 1))
                    .append("\"]\n")
                    .append("  protocol: HBONE\n")
                    .append("  node: node-")
                    .append(i % 50)
                    .append('\n')
                    .append("  services: {\"")
                    .append(ns)
                    .append("/svc-")
                    .append(i / 10)
                    .append('.')
                    .append(ns)
                    .append(".svc.cluster.local\": {80: 8080}}\n");
        }
        y.append("services:\n");
        for (int s = 0; s < workloads / 10; s++) {
            // the pods of service s are 10s..10s+9, in namespaces (10s..10s+9) % 100: name the service after the first
            String ns = "ns" + (s * 10 % 100);
            y.append("- name: svc-")
                    .append(s)
                    .append('\n')
                    .append("  namespace: ")
                    .append(ns)
                    .append('\n')
                    .append("  hostname: svc-")
                    .append(s)
                    .append('.')
                    .append(ns)
                    .append(".svc.cluster.local\n")
                    .append("  vips: [\"/")
                    .append(vip(s + 1))
                    .append("\"]\n")
                    .append("  ports: {80: 8080}\n");
        }
        y.append("policies:").append(policies == 0 ? " []\n" : "\n");
        for (int p = 0; p < policies; p++) {
            String principal =
                    p == policies - 1 ? "cluster.local/ns/client/sa/client" : "cluster.local/ns/other/sa/sa-" + p;
            y.append("- name: allow-")
                    .append(p)
                    .append('\n')
                    .append("  namespace: ns0\n  scope: Namespace\n  action: Allow\n  dryRun: false\n")
                    .append("  rules: [[[{principals: [{Exact: \"")
                    .append(principal)
                    .append("\"}]}], [{destinationPorts: [8080]}]]]\n");
        }
        try {
            return LocalConfigSource.toState(LocalConfigParser.parse(y.toString(), "bench"));
        } catch (Exception e) {
            throw new IllegalStateException("fixture: " + Errors.message(e), e);
        }
    }
}
