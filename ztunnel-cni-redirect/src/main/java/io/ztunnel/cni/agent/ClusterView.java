package io.ztunnel.cni.agent;

import io.ztunnel.cni.agent.enrollment.Namespace;
import io.ztunnel.cni.agent.enrollment.Pod;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Everything a pod source knows at one moment: the namespaces and the pods of this node, in the
 * source's order (the agent enrolls in that order). Immutable.
 *
 * @param namespaces the namespaces (names unique)
 * @param pods this node's pods (uids unique)
 */
public record ClusterView(List<Namespace> namespaces, List<Pod> pods) {
    public static final ClusterView EMPTY = new ClusterView(List.of(), List.of());

    public ClusterView {
        namespaces = List.copyOf(namespaces);
        pods = List.copyOf(pods);
    }

    /** The namespace called {@code name}, if the source knows it. */
    public Optional<Namespace> namespace(String name) {
        for (Namespace ns : namespaces) {
            if (ns.name().equals(name)) {
                return Optional.of(ns);
            }
        }
        return Optional.empty();
    }

    /** Pods by uid, in order. */
    public Map<String, Pod> podsByUid() {
        Map<String, Pod> m = new LinkedHashMap<>();
        for (Pod p : pods) {
            m.put(p.uid(), p);
        }
        return m;
    }
}
