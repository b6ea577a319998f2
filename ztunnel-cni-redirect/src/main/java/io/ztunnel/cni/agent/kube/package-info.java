/**
 * The node agent's Kubernetes mode: {@link KubePodSource} (fabric8 informers on this node's pods and all namespaces,
 * published as {@link io.ztunnel.cni.agent.ClusterView}s), {@link ProcNetnsFinder} (a running pod's network namespace
 * from the host's {@code /proc}) and {@link KubePodHooks} (the host probe set and the pod status annotation).
 * Enrollment itself is {@link io.ztunnel.cni.agent.enrollment.EnrollmentPolicy}, as in local mode.
 */
@NullMarked
package io.ztunnel.cni.agent.kube;

import org.jspecify.annotations.NullMarked;
