package io.ztunnel.cni.zds;

import java.util.Objects;

/**
 * Who a pod is, as the node agent tells the daemon in an {@code AddWorkload}: enough to pick its
 * identity before the workload shows up in xDS. Empty strings stand for unset fields, as in proto3.
 * Immutable.
 *
 * @param name pod name
 * @param namespace pod namespace
 * @param serviceAccount the pod's Kubernetes service account
 */
public record WorkloadInfo(String name, String namespace, String serviceAccount) {
    public WorkloadInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(serviceAccount, "serviceAccount");
    }

    @Override
    public String toString() {
        return namespace + "/" + name + " (sa " + serviceAccount + ")";
    }
}
