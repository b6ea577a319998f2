/**
 * The node agent: the reconcile loop that enrolls pods ({@link NodeAgent}: rules in the pod, then the pod's netns to
 * the daemon over ZDS), the pod sources it listens to ({@link PodSource}; the local file in {@code agent.local}), the
 * status API and the {@code main} ({@link NodeAgentMain}).
 */
@NullMarked
package io.ztunnel.cni.agent;

import org.jspecify.annotations.NullMarked;
