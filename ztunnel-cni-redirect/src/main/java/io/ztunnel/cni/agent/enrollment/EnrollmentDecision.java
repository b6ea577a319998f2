package io.ztunnel.cni.agent.enrollment;

import java.util.Objects;

/**
 * Whether a pod is enrolled in ambient mode, and why (for logs and the status API). Immutable.
 *
 * @param enrolled true if the pod's traffic is to be captured
 * @param reason the rule that decided, in words
 */
public record EnrollmentDecision(boolean enrolled, String reason) {
    public EnrollmentDecision {
        Objects.requireNonNull(reason, "reason");
    }

    static EnrollmentDecision yes(String reason) {
        return new EnrollmentDecision(true, reason);
    }

    static EnrollmentDecision no(String reason) {
        return new EnrollmentDecision(false, reason);
    }
}
