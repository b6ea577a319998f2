package io.ztunnel.cni.agent.enrollment;

import java.net.InetAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A pod on this node, from whichever source: what enrollment decides on (labels, annotations,
 * host networking, namespace) and what redirection needs (its network namespace, IPs, identity).
 * Immutable.
 *
 * @param uid unique id; stable for the pod's lifetime (the ZDS key)
 * @param name pod name
 * @param namespace namespace name
 * @param serviceAccount the pod's service account (its identity)
 * @param ips the pod's IPs (may be empty)
 * @param labels pod labels
 * @param annotations pod annotations
 * @param hostNetwork whether the pod shares the node's network namespace
 * @param netns path of the pod's network namespace file ({@code /var/run/netns/x}, {@code
 *     /proc/<pid>/ns/net}); empty when unknown or host-network
 */
public record Pod(
        String uid,
        String name,
        String namespace,
        String serviceAccount,
        List<InetAddress> ips,
        Map<String, String> labels,
        Map<String, String> annotations,
        boolean hostNetwork,
        Optional<Path> netns) {
    public Pod {
        Objects.requireNonNull(uid, "uid");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(serviceAccount, "serviceAccount");
        ips = List.copyOf(ips);
        labels = Map.copyOf(labels);
        annotations = Map.copyOf(annotations);
        Objects.requireNonNull(netns, "netns");
    }

    /** {@code namespace/name}, for logs and errors. */
    public String key() {
        return namespace + "/" + name;
    }

    @Override
    public String toString() {
        return "Pod{" + key() + ", uid " + uid + "}";
    }
}
