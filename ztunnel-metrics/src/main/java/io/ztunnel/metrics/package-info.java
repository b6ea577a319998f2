/**
 * Istio's ztunnel metric families and their Prometheus/OpenMetrics exposition.
 *
 * <p>Entry point: {@link ZtunnelMetrics}, which owns the traffic families ({@link TrafficMetrics}), the xDS and
 * workload-manager families, build and process information, and the JVM's own metrics. Names, types and label order are
 * Istio's, so the existing ztunnel dashboards work unchanged. The scrape server lives in
 * {@code io.ztunnel.metrics.server}.
 */
@NullMarked
package io.ztunnel.metrics;

import org.jspecify.annotations.NullMarked;
