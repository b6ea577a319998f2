/**
 * The node agent's model of pods and namespaces ({@link Pod}, {@link Namespace}) and the one enrollment decision every
 * pod source (the local file now, Kubernetes later) must use ({@link EnrollmentPolicy}). No I/O.
 */
@NullMarked
package io.ztunnel.cni.agent.enrollment;

import org.jspecify.annotations.NullMarked;
