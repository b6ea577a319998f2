/**
 * The node agent's model of pods and namespaces ({@link io.ztunnel.cni.agent.enrollment.Pod},
 * {@link io.ztunnel.cni.agent.enrollment.Namespace}) and the one enrollment decision every pod
 * source (the local file now, Kubernetes later) must use ({@link
 * io.ztunnel.cni.agent.enrollment.EnrollmentPolicy}). No I/O.
 */
@NullMarked
package io.ztunnel.cni.agent.enrollment;

import org.jspecify.annotations.NullMarked;
