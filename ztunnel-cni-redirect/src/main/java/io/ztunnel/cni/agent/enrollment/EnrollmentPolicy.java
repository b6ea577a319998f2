package io.ztunnel.cni.agent.enrollment;

import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * The enrollment decision of istio-cni (its chart-default enablement selectors), as a pure
 * function of a pod and its namespace, so every pod source decides alike. A pod is enrolled iff
 * all of:
 *
 * <ol>
 *   <li>it does not use the host network;
 *   <li>it has no {@value #SIDECAR_STATUS} annotation (sidecar-injected pods are left alone);
 *   <li>its namespace is not excluded ({@code EXCLUDE_NAMESPACES}, default {@code kube-system});
 *   <li>its label {@value #DATAPLANE_MODE} is {@value #AMBIENT}, or its namespace's label {@value
 *       #DATAPLANE_MODE} is {@value #AMBIENT} and the pod's label is not {@value #NONE}.
 * </ol>
 *
 * Immutable and thread-safe.
 */
public final class EnrollmentPolicy {
    public static final String DATAPLANE_MODE = "istio.io/dataplane-mode";
    public static final String AMBIENT = "ambient";
    public static final String NONE = "none";
    public static final String SIDECAR_STATUS = "sidecar.istio.io/status";

    /** istio-cni's default {@code excludeNamespaces}. */
    public static final Set<String> DEFAULT_EXCLUDED_NAMESPACES = Set.of("kube-system");

    private final Set<String> excludedNamespaces;

    public EnrollmentPolicy(Set<String> excludedNamespaces) {
        this.excludedNamespaces = Set.copyOf(excludedNamespaces);
    }

    /** With the default exclusions ({@code kube-system}). */
    public static EnrollmentPolicy defaults() {
        return new EnrollmentPolicy(DEFAULT_EXCLUDED_NAMESPACES);
    }

    public Set<String> excludedNamespaces() {
        return excludedNamespaces;
    }

    /**
     * Decides for {@code pod}; {@code namespace} is the pod's namespace, empty when the source does
     * not know it (treated as a namespace without labels).
     */
    public EnrollmentDecision decide(Pod pod, Optional<Namespace> namespace) {
        Objects.requireNonNull(pod, "pod");
        namespace.ifPresent(ns -> {
            if (!ns.name().equals(pod.namespace())) {
                throw new IllegalArgumentException("namespace " + ns.name() + " given for pod " + pod.key());
            }
        });
        if (pod.hostNetwork()) {
            return EnrollmentDecision.no("uses the host network");
        }
        if (pod.annotations().containsKey(SIDECAR_STATUS)) {
            return EnrollmentDecision.no("has a sidecar (annotation " + SIDECAR_STATUS + ")");
        }
        if (excludedNamespaces.contains(pod.namespace())) {
            return EnrollmentDecision.no("namespace " + pod.namespace() + " is excluded");
        }
        String podMode = pod.labels().get(DATAPLANE_MODE);
        if (AMBIENT.equals(podMode)) {
            return EnrollmentDecision.yes("pod label " + DATAPLANE_MODE + "=" + AMBIENT);
        }
        String nsMode = namespace.map(ns -> ns.labels().get(DATAPLANE_MODE)).orElse(null);
        if (AMBIENT.equals(nsMode)) {
            if (NONE.equals(podMode)) {
                return EnrollmentDecision.no("pod opted out with label " + DATAPLANE_MODE + "=" + NONE);
            }
            return EnrollmentDecision.yes("namespace " + pod.namespace() + " label " + DATAPLANE_MODE + "=" + AMBIENT);
        }
        return EnrollmentDecision.no(
                "neither the pod nor namespace " + pod.namespace() + " has " + DATAPLANE_MODE + "=" + AMBIENT);
    }
}
