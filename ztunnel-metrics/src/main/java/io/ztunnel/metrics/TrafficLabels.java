package io.ztunnel.metrics;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;
import org.jspecify.annotations.Nullable;

/**
 * The identity of a connection for the {@code istio_tcp_*} families: Istio's
 * CommonTrafficLabels without {@code response_flags}, which is the connection's outcome and is
 * supplied when it ends (see {@link TrafficMetrics}).
 *
 * <p>Labels are rendered in Istio's order: {@code reporter}, the eight {@code source_*} workload
 * labels, the three {@code destination_service*} labels, the eight {@code destination_*} workload
 * labels, {@code request_protocol} (always {@code tcp}), {@code response_flags},
 * {@code connection_security_policy}, then the locality labels {@code source_region},
 * {@code source_zone}, {@code destination_region}, {@code destination_zone}.
 *
 * <p>A value that is {@code null} or empty renders as {@code unknown}. As upstream, the four
 * locality labels are emitted only when some source or destination workload information exists,
 * i.e. when at least one {@code source_*}, {@code destination_*} workload or locality value was
 * set ({@code destination_service*} alone does not count).
 *
 * <p>Immutable and thread-safe. Instances are value objects: two equal instances address the same
 * series. Core may cache and reuse them (e.g. per workload pair) to save per-connection work.
 */
public final class TrafficLabels {

    /** The label value used for anything missing. */
    public static final String UNKNOWN = "unknown";

    // Index of each free-text value in `values`; declaration order is NOT the render order.
    private static final int SOURCE_WORKLOAD = 0;
    private static final int SOURCE_CANONICAL_SERVICE = 1;
    private static final int SOURCE_CANONICAL_REVISION = 2;
    private static final int SOURCE_WORKLOAD_NAMESPACE = 3;
    private static final int SOURCE_PRINCIPAL = 4;
    private static final int SOURCE_APP = 5;
    private static final int SOURCE_VERSION = 6;
    private static final int SOURCE_CLUSTER = 7;
    private static final int DESTINATION_SERVICE = 8;
    private static final int DESTINATION_SERVICE_NAMESPACE = 9;
    private static final int DESTINATION_SERVICE_NAME = 10;
    private static final int DESTINATION_WORKLOAD = 11;
    private static final int DESTINATION_CANONICAL_SERVICE = 12;
    private static final int DESTINATION_CANONICAL_REVISION = 13;
    private static final int DESTINATION_WORKLOAD_NAMESPACE = 14;
    private static final int DESTINATION_PRINCIPAL = 15;
    private static final int DESTINATION_APP = 16;
    private static final int DESTINATION_VERSION = 17;
    private static final int DESTINATION_CLUSTER = 18;
    private static final int SOURCE_REGION = 19;
    private static final int SOURCE_ZONE = 20;
    private static final int DESTINATION_REGION = 21;
    private static final int DESTINATION_ZONE = 22;
    private static final int VALUE_COUNT = 23;

    private static final String[] NAMES = {
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
        "source_region",
        "source_zone",
        "destination_region",
        "destination_zone",
    };

    private final Reporter reporter;
    private final SecurityPolicy securityPolicy;
    private final @Nullable String[] values;
    private final boolean locality;
    private final int hash;

    private TrafficLabels(Builder b) {
        this.reporter = b.reporter;
        this.securityPolicy = b.securityPolicy;
        this.values = b.values.clone();
        boolean peerInfo = false;
        for (int i = 0; i < VALUE_COUNT; i++) {
            boolean serviceOnly =
                    i == DESTINATION_SERVICE || i == DESTINATION_SERVICE_NAMESPACE || i == DESTINATION_SERVICE_NAME;
            if (!serviceOnly && values[i] != null) {
                peerInfo = true;
                break;
            }
        }
        this.locality = peerInfo;
        this.hash = 31 * (31 * reporter.hashCode() + securityPolicy.hashCode()) + Arrays.hashCode(values);
    }

    /** Starts a label set for a connection reported by {@code reporter}. */
    public static Builder builder(Reporter reporter) {
        return new Builder(reporter);
    }

    /** A builder pre-filled with this label set, to derive a variant. */
    public Builder toBuilder() {
        Builder b = new Builder(reporter);
        b.securityPolicy = securityPolicy;
        System.arraycopy(values, 0, b.values, 0, VALUE_COUNT);
        return b;
    }

    public Reporter reporter() {
        return reporter;
    }

    public SecurityPolicy connectionSecurityPolicy() {
        return securityPolicy;
    }

    /** Whether the locality labels are part of this label set (see the class comment). */
    public boolean hasLocality() {
        return locality;
    }

    public String sourceWorkload() {
        return rendered(SOURCE_WORKLOAD);
    }

    public String sourceCanonicalService() {
        return rendered(SOURCE_CANONICAL_SERVICE);
    }

    public String sourceCanonicalRevision() {
        return rendered(SOURCE_CANONICAL_REVISION);
    }

    public String sourceWorkloadNamespace() {
        return rendered(SOURCE_WORKLOAD_NAMESPACE);
    }

    public String sourcePrincipal() {
        return rendered(SOURCE_PRINCIPAL);
    }

    public String sourceApp() {
        return rendered(SOURCE_APP);
    }

    public String sourceVersion() {
        return rendered(SOURCE_VERSION);
    }

    public String sourceCluster() {
        return rendered(SOURCE_CLUSTER);
    }

    public String destinationService() {
        return rendered(DESTINATION_SERVICE);
    }

    public String destinationServiceNamespace() {
        return rendered(DESTINATION_SERVICE_NAMESPACE);
    }

    public String destinationServiceName() {
        return rendered(DESTINATION_SERVICE_NAME);
    }

    public String destinationWorkload() {
        return rendered(DESTINATION_WORKLOAD);
    }

    public String destinationCanonicalService() {
        return rendered(DESTINATION_CANONICAL_SERVICE);
    }

    public String destinationCanonicalRevision() {
        return rendered(DESTINATION_CANONICAL_REVISION);
    }

    public String destinationWorkloadNamespace() {
        return rendered(DESTINATION_WORKLOAD_NAMESPACE);
    }

    public String destinationPrincipal() {
        return rendered(DESTINATION_PRINCIPAL);
    }

    public String destinationApp() {
        return rendered(DESTINATION_APP);
    }

    public String destinationVersion() {
        return rendered(DESTINATION_VERSION);
    }

    public String destinationCluster() {
        return rendered(DESTINATION_CLUSTER);
    }

    public String sourceRegion() {
        return rendered(SOURCE_REGION);
    }

    public String sourceZone() {
        return rendered(SOURCE_ZONE);
    }

    public String destinationRegion() {
        return rendered(DESTINATION_REGION);
    }

    public String destinationZone() {
        return rendered(DESTINATION_ZONE);
    }

    private String rendered(int index) {
        String v = values[index];
        return v == null ? UNKNOWN : v;
    }

    /**
     * Renders {@code {reporter="…",…}} in Istio's order with the given outcome, as UTF-8 bytes.
     * Called once per series, not per scrape.
     */
    byte[] renderLabelSet(ResponseFlags flags) {
        StringBuilder sb = new StringBuilder(1024);
        sb.append("{reporter=\"").append(reporter.labelValue()).append('"');
        for (int i = SOURCE_WORKLOAD; i <= DESTINATION_CLUSTER; i++) {
            appendLabel(sb, i);
        }
        sb.append(",request_protocol=\"tcp\"");
        sb.append(",response_flags=\"").append(flags.labelValue()).append('"');
        sb.append(",connection_security_policy=\"")
                .append(securityPolicy.labelValue())
                .append('"');
        if (locality) {
            for (int i = SOURCE_REGION; i <= DESTINATION_ZONE; i++) {
                appendLabel(sb, i);
            }
        }
        sb.append('}');
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    private void appendLabel(StringBuilder sb, int index) {
        sb.append(',').append(NAMES[index]).append("=\"");
        ExpositionWriter.escapeLabelValue(sb, rendered(index));
        sb.append('"');
    }

    @Override
    public boolean equals(@Nullable Object o) {
        if (this == o) {
            return true;
        }
        return o instanceof TrafficLabels other
                && hash == other.hash
                && reporter == other.reporter
                && securityPolicy == other.securityPolicy
                && Arrays.equals(values, other.values);
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public String toString() {
        return new String(renderLabelSet(ResponseFlags.NONE), StandardCharsets.UTF_8);
    }

    /**
     * Collects label values. Every setter accepts {@code null} or an empty string for "not known",
     * which renders as {@code unknown}. Not thread-safe; build on one thread, then share the result.
     */
    public static final class Builder {
        private final Reporter reporter;
        private SecurityPolicy securityPolicy = SecurityPolicy.UNKNOWN;
        private final @Nullable String[] values = new String[VALUE_COUNT];

        private Builder(Reporter reporter) {
            this.reporter = Objects.requireNonNull(reporter, "reporter");
        }

        private Builder set(int index, @Nullable String value) {
            values[index] = value == null || value.isEmpty() ? null : value;
            return this;
        }

        public Builder sourceWorkload(@Nullable String v) {
            return set(SOURCE_WORKLOAD, v);
        }

        public Builder sourceCanonicalService(@Nullable String v) {
            return set(SOURCE_CANONICAL_SERVICE, v);
        }

        public Builder sourceCanonicalRevision(@Nullable String v) {
            return set(SOURCE_CANONICAL_REVISION, v);
        }

        public Builder sourceWorkloadNamespace(@Nullable String v) {
            return set(SOURCE_WORKLOAD_NAMESPACE, v);
        }

        /** The mTLS identity of the client; leave unset when the connection had none. */
        public Builder sourcePrincipal(@Nullable String v) {
            return set(SOURCE_PRINCIPAL, v);
        }

        public Builder sourceApp(@Nullable String v) {
            return set(SOURCE_APP, v);
        }

        public Builder sourceVersion(@Nullable String v) {
            return set(SOURCE_VERSION, v);
        }

        public Builder sourceCluster(@Nullable String v) {
            return set(SOURCE_CLUSTER, v);
        }

        /** The destination service's hostname. */
        public Builder destinationService(@Nullable String v) {
            return set(DESTINATION_SERVICE, v);
        }

        public Builder destinationServiceNamespace(@Nullable String v) {
            return set(DESTINATION_SERVICE_NAMESPACE, v);
        }

        public Builder destinationServiceName(@Nullable String v) {
            return set(DESTINATION_SERVICE_NAME, v);
        }

        public Builder destinationWorkload(@Nullable String v) {
            return set(DESTINATION_WORKLOAD, v);
        }

        public Builder destinationCanonicalService(@Nullable String v) {
            return set(DESTINATION_CANONICAL_SERVICE, v);
        }

        public Builder destinationCanonicalRevision(@Nullable String v) {
            return set(DESTINATION_CANONICAL_REVISION, v);
        }

        public Builder destinationWorkloadNamespace(@Nullable String v) {
            return set(DESTINATION_WORKLOAD_NAMESPACE, v);
        }

        public Builder destinationPrincipal(@Nullable String v) {
            return set(DESTINATION_PRINCIPAL, v);
        }

        public Builder destinationApp(@Nullable String v) {
            return set(DESTINATION_APP, v);
        }

        public Builder destinationVersion(@Nullable String v) {
            return set(DESTINATION_VERSION, v);
        }

        public Builder destinationCluster(@Nullable String v) {
            return set(DESTINATION_CLUSTER, v);
        }

        public Builder sourceRegion(@Nullable String v) {
            return set(SOURCE_REGION, v);
        }

        public Builder sourceZone(@Nullable String v) {
            return set(SOURCE_ZONE, v);
        }

        public Builder destinationRegion(@Nullable String v) {
            return set(DESTINATION_REGION, v);
        }

        public Builder destinationZone(@Nullable String v) {
            return set(DESTINATION_ZONE, v);
        }

        public Builder connectionSecurityPolicy(SecurityPolicy policy) {
            this.securityPolicy = Objects.requireNonNull(policy, "policy");
            return this;
        }

        public TrafficLabels build() {
            return new TrafficLabels(this);
        }
    }
}
