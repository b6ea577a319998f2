/**
 * The node agent: the reconcile loop that enrolls pods ({@link io.ztunnel.cni.agent.NodeAgent}:
 * rules in the pod, then the pod's netns to the daemon over ZDS), the pod sources it listens to
 * ({@link io.ztunnel.cni.agent.PodSource}; the local file in {@code agent.local}), the status API
 * and the {@code main} ({@link io.ztunnel.cni.agent.NodeAgentMain}).
 */
@NullMarked
package io.ztunnel.cni.agent;

import org.jspecify.annotations.NullMarked;
