package io.ztunnel.metrics;

import io.micrometer.core.instrument.binder.MeterBinder;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmHeapPressureMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmInfoMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.OpenMetricsTextFormatWriter;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The JVM's own metrics (memory, GC, threads, classes, CPU, uptime), standing in for upstream's
 * Tokio runtime metrics, produced by micrometer's binders into a private
 * {@link PrometheusMeterRegistry} and written with the Prometheus Java client's own writers.
 *
 * <p>Meters whose names Prometheus' linter rejects ({@code system.cpu.count} ends in
 * {@code _count}; {@code process.cpu.time} carries an abbreviated unit) are filtered out, so the
 * exposition lints clean apart from names Istio mandates.
 *
 * <p>Thread-safe: scrapes may run concurrently on any thread. Owns the registry and the binders
 * that hold JMX notification listeners; {@link #close} releases them.
 */
final class JvmMetrics implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(JvmMetrics.class);

    private static final Set<String> LINT_REJECTED = Set.of("system.cpu.count", "process.cpu.time");

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final Predicate<String> included;
    private final ExpositionFormatWriter textWriter = PrometheusTextFormatWriter.create();
    private final ExpositionFormatWriter openMetricsWriter = OpenMetricsTextFormatWriter.create();

    /**
     * @param reservedNames family names written by this module itself; a JVM meter that maps to one
     *     of them is left out so a family never appears twice
     */
    JvmMetrics(Set<String> reservedNames) {
        this.included = name -> !reservedNames.contains(name) && !reservedNames.contains(stripTotal(name));
        registry.config().meterFilter(MeterFilter.deny(id -> LINT_REJECTED.contains(id.getName())));
        JvmGcMetrics gc = new JvmGcMetrics();
        JvmHeapPressureMetrics heapPressure = new JvmHeapPressureMetrics();
        closeables.add(gc);
        closeables.add(heapPressure);
        closeables.add(registry::close);
        List<MeterBinder> binders = List.of(
                new JvmInfoMetrics(),
                new JvmMemoryMetrics(),
                gc,
                heapPressure,
                new JvmThreadMetrics(),
                new ClassLoaderMetrics(),
                new ProcessorMetrics(),
                new UptimeMetrics());
        for (MeterBinder b : binders) {
            b.bindTo(registry);
        }
    }

    private static String stripTotal(String name) {
        return name.endsWith("_total") ? name.substring(0, name.length() - "_total".length()) : name;
    }

    /**
     * Writes the JVM families to {@code out}. In OpenMetrics the client's writer ends with
     * {@code # EOF}, so this must be the last part of a scrape.
     */
    void writeLast(ExpositionFormat format, OutputStream out) throws IOException {
        MetricSnapshots snapshots = registry.getPrometheusRegistry().scrape(included);
        ExpositionFormatWriter writer = format == ExpositionFormat.OPENMETRICS ? openMetricsWriter : textWriter;
        writer.write(out, snapshots);
    }

    @Override
    public void close() {
        for (AutoCloseable c : closeables) {
            try {
                c.close();
            } catch (Exception e) {
                log.atWarn()
                        .setCause(e)
                        .addKeyValue("binder", c.getClass().getSimpleName())
                        .log("failed to release JVM metrics binder");
            }
        }
    }
}
