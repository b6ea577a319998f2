package io.ztunnel.metrics;

import java.util.List;

/** Label sets and helpers shared by the tests. */
final class TestLabels {
    /** Istio's CommonTrafficLabels order, written out independently of the production code. */
    static final List<String> ISTIO_ORDER = List.of(
            "reporter",
            "source_workload",
            "source_canonical_service",
            "source_canonical_revision",
            "source_workload_namespace",
            "source_principal",
            "source_app",
            "source_version",
            "source_cluster",
            "destination_service",
            "destination_service_namespace",
            "destination_service_name",
            "destination_workload",
            "destination_canonical_service",
            "destination_canonical_revision",
            "destination_workload_namespace",
            "destination_principal",
            "destination_app",
            "destination_version",
            "destination_cluster",
            "request_protocol",
            "response_flags",
            "connection_security_policy",
            "source_region",
            "source_zone",
            "destination_region",
            "destination_zone");

    private TestLabels() {}

    /** sleep → httpbin, inbound, mTLS; destination locality deliberately missing. */
    static TrafficLabels sleepToHttpbin() {
        return TrafficLabels.builder(Reporter.DESTINATION)
                .sourceWorkload("sleep")
                .sourceCanonicalService("sleep")
                .sourceCanonicalRevision("latest")
                .sourceWorkloadNamespace("default")
                .sourcePrincipal("spiffe://cluster.local/ns/default/sa/sleep")
                .sourceApp("sleep")
                .sourceVersion("latest")
                .sourceCluster("Kubernetes")
                .destinationService("httpbin.default.svc.cluster.local")
                .destinationServiceNamespace("default")
                .destinationServiceName("httpbin")
                .destinationWorkload("httpbin")
                .destinationCanonicalService("httpbin")
                .destinationCanonicalRevision("v1")
                .destinationWorkloadNamespace("default")
                .destinationPrincipal("spiffe://cluster.local/ns/default/sa/httpbin")
                .destinationApp("httpbin")
                .destinationVersion("v1")
                .destinationCluster("Kubernetes")
                .connectionSecurityPolicy(SecurityPolicy.MUTUAL_TLS)
                .sourceRegion("europe-west1")
                .sourceZone("europe-west1-b")
                .build();
    }

    /** An outbound label set for workload {@code name} talking to {@code dest}, no locality given. */
    static TrafficLabels outbound(String name, String dest) {
        return TrafficLabels.builder(Reporter.SOURCE)
                .sourceWorkload(name)
                .sourceWorkloadNamespace("default")
                .destinationWorkload(dest)
                .destinationWorkloadNamespace("default")
                .build();
    }

    /** The lines of {@code exposition} that mention {@code prefix}, joined with line feeds. */
    static String linesMentioning(String exposition, String prefix) {
        StringBuilder sb = new StringBuilder();
        for (String line : exposition.split("\n")) {
            if (line.contains(prefix)) {
                sb.append(line).append('\n');
            }
        }
        return sb.toString();
    }
}
