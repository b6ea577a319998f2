package io.ztunnel.cni.agent.enrollment;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Each rule of istio-cni's enrollment decision on its own. */
class EnrollmentPolicyTest {
    private static final EnrollmentPolicy POLICY = EnrollmentPolicy.defaults();
    private static final Map<String, String> AMBIENT = Map.of("istio.io/dataplane-mode", "ambient");

    private static Pod pod(
            String ns, Map<String, String> labels, Map<String, String> annotations, boolean hostNetwork) {
        return new Pod("uid-1", "web", ns, "default", List.of(), labels, annotations, hostNetwork, Optional.empty());
    }

    private static Optional<Namespace> ns(String name, Map<String, String> labels) {
        return Optional.of(new Namespace(name, labels));
    }

    @Test
    void podLabelAmbientEnrollsInAnyNamespace() {
        EnrollmentDecision d = POLICY.decide(pod("demo", AMBIENT, Map.of(), false), ns("demo", Map.of()));
        assertThat(d.enrolled()).isTrue();
        assertThat(d.reason()).contains("pod label");
        assertThat(POLICY.decide(pod("demo", AMBIENT, Map.of(), false), Optional.empty())
                        .enrolled())
                .isTrue();
    }

    @Test
    void namespaceLabelAmbientEnrollsItsPods() {
        EnrollmentDecision d = POLICY.decide(pod("demo", Map.of(), Map.of(), false), ns("demo", AMBIENT));
        assertThat(d.enrolled()).isTrue();
        assertThat(d.reason()).contains("namespace demo");
    }

    @Test
    void podLabelNoneOptsOutOfAnAmbientNamespace() {
        EnrollmentDecision d = POLICY.decide(
                pod("demo", Map.of("istio.io/dataplane-mode", "none"), Map.of(), false), ns("demo", AMBIENT));
        assertThat(d.enrolled()).isFalse();
        assertThat(d.reason()).contains("opted out");
    }

    @Test
    void otherPodLabelValuesDoNotOptOut() {
        assertThat(POLICY.decide(
                                pod("demo", Map.of("istio.io/dataplane-mode", "sidecar"), Map.of(), false),
                                ns("demo", AMBIENT))
                        .enrolled())
                .isTrue();
    }

    @Test
    void withoutAnyAmbientLabelNothingIsEnrolled() {
        assertThat(POLICY.decide(pod("demo", Map.of(), Map.of(), false), ns("demo", Map.of()))
                        .enrolled())
                .isFalse();
        assertThat(POLICY.decide(pod("demo", Map.of(), Map.of(), false), Optional.empty())
                        .enrolled())
                .isFalse();
        assertThat(POLICY.decide(
                                pod("demo", Map.of(), Map.of(), false),
                                ns("demo", Map.of("istio.io/dataplane-mode", "none")))
                        .enrolled())
                .isFalse();
    }

    @Test
    void hostNetworkPodsAreNeverEnrolled() {
        EnrollmentDecision d = POLICY.decide(pod("demo", AMBIENT, Map.of(), true), ns("demo", AMBIENT));
        assertThat(d.enrolled()).isFalse();
        assertThat(d.reason()).contains("host network");
    }

    @Test
    void sidecarPodsAreNeverEnrolled() {
        EnrollmentDecision d = POLICY.decide(
                pod("demo", AMBIENT, Map.of("sidecar.istio.io/status", "{}"), false), ns("demo", AMBIENT));
        assertThat(d.enrolled()).isFalse();
        assertThat(d.reason()).contains("sidecar");
    }

    @Test
    void excludedNamespacesAreNeverEnrolledEvenWithThePodLabel() {
        EnrollmentDecision d = POLICY.decide(pod("kube-system", AMBIENT, Map.of(), false), ns("kube-system", AMBIENT));
        assertThat(d.enrolled()).isFalse();
        assertThat(d.reason()).contains("excluded");
        EnrollmentPolicy custom = new EnrollmentPolicy(Set.of("infra"));
        assertThat(custom.decide(pod("kube-system", AMBIENT, Map.of(), false), Optional.empty())
                        .enrolled())
                .isTrue();
        assertThat(custom.decide(pod("infra", AMBIENT, Map.of(), false), Optional.empty())
                        .enrolled())
                .isFalse();
    }
}
