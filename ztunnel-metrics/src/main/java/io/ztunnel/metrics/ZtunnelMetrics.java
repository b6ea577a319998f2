package io.ztunnel.metrics;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The daemon's metric registry: every family ztunnel exposes on {@code :15020}, and the scrape
 * that renders them.
 *
 * <p>Families, in exposition order: {@code istio_build}; the {@code istio_tcp_*} traffic families
 * ({@link #traffic()}); the {@code istio_xds_*} families ({@link #xds()}); the
 * {@code workload_manager_*} families ({@link #workloadManager()}); the {@code istio_dns_*} families
 * ({@link #dns()}); the {@code istio_crl_*} families ({@link #crl()}); {@code process_open_fds} and
 * {@code process_max_fds}; then the JVM's own metrics in place of upstream's Tokio metrics.
 * Families with no series are omitted, as upstream's encoder does. The {@code istio_*},
 * {@code workload_manager_*} and {@code process_*fds} families are rendered by this module with
 * Istio's label order; the JVM families come from micrometer and the Prometheus Java client, and a
 * JVM family can never shadow one of ours (names are reserved).
 *
 * <p>Threading: thread-safe. Recording methods may be called from any thread; {@link #scrape} runs
 * on the caller's thread and may be expensive with many series, so call it from the control event
 * loop (the {@code MetricsServer} does), never from a data-plane thread.
 *
 * <p>Ownership: one instance per daemon, created at start-up and {@linkplain #close closed} at
 * shutdown (which detaches the JVM binders' JMX listeners).
 */
public final class ZtunnelMetrics implements AutoCloseable {
    static final String BUILD = "istio_build";

    private final String buildTag;
    private final TrafficMetrics traffic = new TrafficMetrics();
    private final XdsMetrics xds = new XdsMetrics();
    private final WorkloadManagerMetrics workloadManager = new WorkloadManagerMetrics();
    private final DnsMetrics dns = new DnsMetrics();
    private final CrlMetrics crl = new CrlMetrics();
    private final ProcessMetrics process = new ProcessMetrics();
    private final boolean workloadManagerExposed;
    private final boolean dnsExposed;
    private final @Nullable JvmMetrics jvm;

    private ZtunnelMetrics(Builder b) {
        this.buildTag = b.buildTag;
        this.workloadManagerExposed = b.workloadManager;
        this.dnsExposed = b.dns;
        this.jvm = b.jvmMetrics ? new JvmMetrics(reservedNames()) : null;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Every family name this module renders itself, by base name (counters without {@code _total}). */
    static Set<String> reservedNames() {
        Set<String> names = new HashSet<>();
        names.add(BUILD);
        names.addAll(TrafficMetrics.FAMILY_NAMES);
        names.addAll(XdsMetrics.FAMILY_NAMES);
        names.addAll(WorkloadManagerMetrics.FAMILY_NAMES);
        names.addAll(DnsMetrics.FAMILY_NAMES);
        names.addAll(CrlMetrics.FAMILY_NAMES);
        names.addAll(ProcessMetrics.FAMILY_NAMES);
        return Set.copyOf(names);
    }

    /** The {@code istio_tcp_*} families. */
    public TrafficMetrics traffic() {
        return traffic;
    }

    /** The {@code istio_xds_*} families. */
    public XdsMetrics xds() {
        return xds;
    }

    /**
     * The {@code workload_manager_*} families (exposed unless the builder turned them off; recording
     * into them is always safe).
     */
    public WorkloadManagerMetrics workloadManager() {
        return workloadManager;
    }

    /**
     * The DNS proxy's families (exposed when the builder turned them on; recording into them is always safe).
     */
    public DnsMetrics dns() {
        return dns;
    }

    /** The certificate revocation families (rendered once a series was counted). */
    public CrlMetrics crl() {
        return crl;
    }

    /**
     * Writes a complete exposition in {@code format} to {@code out} (which is flushed, not closed).
     * In OpenMetrics the output ends with {@code # EOF}.
     */
    public void scrape(ExpositionFormat format, OutputStream out) throws IOException {
        Objects.requireNonNull(format, "format");
        ExpositionWriter w = new ExpositionWriter(format, out);
        w.family(BUILD, ExpositionWriter.Type.GAUGE, "Istio component build info.");
        w.sample(BUILD, ExpositionWriter.Type.GAUGE, buildLabels(), 1);
        traffic.writeTo(w);
        xds.writeTo(w);
        if (workloadManagerExposed) {
            workloadManager.writeTo(w);
        }
        if (dnsExposed) {
            dns.writeTo(w);
        }
        crl.writeTo(w);
        process.writeTo(w);
        if (jvm != null) {
            w.flush();
            jvm.writeLast(format, out); // ends with # EOF in OpenMetrics
        } else {
            if (format == ExpositionFormat.OPENMETRICS) {
                w.eof();
            }
            w.flush();
        }
    }

    /** {@link #scrape(ExpositionFormat, OutputStream)} into a string; for tests and debugging. */
    public String scrape(ExpositionFormat format) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(64 * 1024);
        try {
            scrape(format, out);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private byte[] buildLabels() {
        StringBuilder sb = new StringBuilder(48).append("{component=\"ztunnel\",tag=\"");
        ExpositionWriter.escapeLabelValue(sb, buildTag);
        return sb.append("\"}").toString().getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public void close() {
        if (jvm != null) {
            jvm.close();
        }
    }

    /** Configures a {@link ZtunnelMetrics}. Not thread-safe. */
    public static final class Builder {
        private String buildTag = TrafficLabels.UNKNOWN;
        private boolean jvmMetrics = true;
        private boolean workloadManager = true;
        private boolean dns = true;

        private Builder() {}

        /**
         * The {@code tag} label of {@code istio_build}: the Istio version ({@code ISTIO_META_ISTIO_VERSION});
         * {@code unknown} when null or empty.
         */
        public Builder buildTag(@Nullable String tag) {
            this.buildTag = tag == null || tag.isEmpty() ? TrafficLabels.UNKNOWN : tag;
            return this;
        }

        /** Whether to expose the JVM's own metrics (default {@code true}). */
        public Builder jvmMetrics(boolean enabled) {
            this.jvmMetrics = enabled;
            return this;
        }

        /**
         * Whether to expose the {@code workload_manager_*} families (default {@code true}). Upstream
         * registers them only in in-pod (shared node proxy) mode; turn them off otherwise.
         */
        public Builder workloadManagerMetrics(boolean enabled) {
            this.workloadManager = enabled;
            return this;
        }

        /**
         * Whether to expose the DNS proxy's families (default {@code true}). Upstream registers them only when the DNS
         * proxy is on.
         */
        public Builder dnsMetrics(boolean enabled) {
            this.dns = enabled;
            return this;
        }

        public ZtunnelMetrics build() {
            return new ZtunnelMetrics(this);
        }
    }
}
