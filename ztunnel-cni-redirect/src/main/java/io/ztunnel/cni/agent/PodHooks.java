package io.ztunnel.cni.agent;

import io.ztunnel.cni.agent.enrollment.Pod;

/**
 * What the agent does for a pod besides its in-pod rules and ZDS, in Kubernetes mode: the host-side
 * kubelet probe set and the pod's {@value #REDIRECTION_ANNOTATION} status annotation. The loop calls
 * them in istio-cni's order. Enrolling: rules, ZDS add, {@link #addProbeTarget}, {@link #annotate}
 * {@code enabled} ({@code pending} right after a failed add). Leaving (section A.10): {@link
 * #removeProbeTarget}, rules removed, ZDS delete, {@link #clearAnnotation}. A thrown exception is
 * counted, logged and retried with the pod's backoff; the steps already done are not repeated.
 *
 * <p>Threading: called only on the agent's reconcile thread; may block briefly (a command or an
 * API call with its own timeout). Local mode uses {@link #NONE}.
 */
public interface PodHooks {
    /** The status annotation istiod reads to treat the workload as captured. */
    String REDIRECTION_ANNOTATION = "ambient.istio.io/redirection";

    /** Puts the pod's IPs in the host probe set (the pod is served by a daemon now). */
    void addProbeTarget(Pod pod) throws Exception;

    /** Takes the pod's IPs out of the host probe set (only entries carrying this pod's uid). */
    void removeProbeTarget(Pod pod) throws Exception;

    /** Sets the status annotation to {@code state.text()} ({@code enabled} or {@code pending}). */
    void annotate(Pod pod, PodStatus.State state) throws Exception;

    /** Removes the status annotation; a pod that no longer exists counts as done. */
    void clearAnnotation(Pod pod) throws Exception;

    /** Does nothing (local mode: no API server, no kubelet). */
    PodHooks NONE = new PodHooks() {
        @Override
        public void addProbeTarget(Pod pod) {}

        @Override
        public void removeProbeTarget(Pod pod) {}

        @Override
        public void annotate(Pod pod, PodStatus.State state) {}

        @Override
        public void clearAnnotation(Pod pod) {}
    };
}
