package io.ztunnel.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The DNS families: upstream's names, label order, bucket bounds, and the families omitted until used. */
class DnsMetricsTest {
    private final ZtunnelMetrics metrics =
            ZtunnelMetrics.builder().jvmMetrics(false).build();

    @Test
    void countersAndHistogramUseUpstreamNamesLabelsAndBuckets() {
        DnsMetrics.Labels labels = new DnsMetrics.Labels("aaaa", "tcp", "sleep", "");
        metrics.dns().request(labels);
        metrics.dns().request(labels);
        metrics.dns().upstreamRequest(labels);
        metrics.dns().upstreamDuration(labels, 700_000); // 0.7 ms: in the 0.001 bucket
        metrics.dns().upstreamDuration(labels, 7_000_000_000L); // above 5 s: only +Inf

        String text = metrics.scrape(ExpositionFormat.PROMETHEUS_TEXT);

        String l = "request_query_type=\"aaaa\",request_protocol=\"tcp\",source_canonical_service=\"sleep\","
                + "source_canonical_revision=\"unknown\"";
        assertThat(text)
                .contains("# TYPE istio_dns_requests_total counter\n")
                .contains("istio_dns_requests_total{" + l + "} 2\n")
                .contains("istio_dns_upstream_requests_total{" + l + "} 1\n")
                .doesNotContain("istio_dns_upstream_failures_total")
                .contains("# TYPE istio_dns_upstream_request_duration_seconds histogram\n")
                .contains("istio_dns_upstream_request_duration_seconds_bucket{" + l + ",le=\"0.0005\"} 0\n")
                .contains("istio_dns_upstream_request_duration_seconds_bucket{" + l + ",le=\"0.001\"} 1\n")
                .contains("istio_dns_upstream_request_duration_seconds_bucket{" + l + ",le=\"5.0\"} 1\n")
                .contains("istio_dns_upstream_request_duration_seconds_bucket{" + l + ",le=\"+Inf\"} 2\n")
                .contains("istio_dns_upstream_request_duration_seconds_count{" + l + "} 2\n")
                .doesNotContain("ztunnel_dns_dropped_requests");
        StrictExpositionParser.parse(text, ExpositionFormat.PROMETHEUS_TEXT);
        StrictExpositionParser.parse(metrics.scrape(ExpositionFormat.OPENMETRICS), ExpositionFormat.OPENMETRICS);
    }

    @Test
    void droppedMessagesAreCountedByReason() {
        metrics.dns().dropped(DnsMetrics.DropReason.OVERLOAD);
        metrics.dns().dropped(DnsMetrics.DropReason.OVERLOAD);
        assertThat(metrics.scrape(ExpositionFormat.PROMETHEUS_TEXT))
                .contains("ztunnel_dns_dropped_requests_total{reason=\"overload\"} 2\n");
        assertThat(metrics.dns().droppedCount(DnsMetrics.DropReason.OVERLOAD)).isEqualTo(2);
    }

    @Test
    void familiesAreAbsentWhenTheProxyIsOff() {
        ZtunnelMetrics off =
                ZtunnelMetrics.builder().jvmMetrics(false).dnsMetrics(false).build();
        off.dns().request(new DnsMetrics.Labels("a", "udp", "x", "y"));
        assertThat(off.scrape(ExpositionFormat.PROMETHEUS_TEXT)).doesNotContain("istio_dns_");
    }
}
