package io.ztunnel.metrics;

import static io.ztunnel.metrics.StrictExpositionParser.requireFamily;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/** Content negotiation, and label escaping round-trips for arbitrary values. */
class ExpositionFormatTest {

    @Test
    void defaultsToPrometheusText() {
        assertThat(ExpositionFormat.negotiate(null)).isEqualTo(ExpositionFormat.PROMETHEUS_TEXT);
        assertThat(ExpositionFormat.negotiate(List.of())).isEqualTo(ExpositionFormat.PROMETHEUS_TEXT);
        assertThat(ExpositionFormat.negotiate(List.of("application/json"))).isEqualTo(ExpositionFormat.PROMETHEUS_TEXT);
        assertThat(ExpositionFormat.PROMETHEUS_TEXT.contentType())
                .isEqualTo("text/plain; version=0.0.4; charset=utf-8");
    }

    @Test
    void prometheusDefaultScrapeHeaderGetsOpenMetrics() {
        // What Prometheus 2.x/3.x sends with its default scrape_protocols.
        String header =
                "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,"
                        + "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assertThat(ExpositionFormat.negotiate(List.of(header))).isEqualTo(ExpositionFormat.OPENMETRICS);
        assertThat(ExpositionFormat.OPENMETRICS.contentType())
                .isEqualTo("application/openmetrics-text; version=1.0.0; charset=utf-8");
    }

    @Test
    void qValuesDecide() {
        assertThat(ExpositionFormat.negotiate(
                        List.of("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5")))
                .isEqualTo(ExpositionFormat.PROMETHEUS_TEXT);
        assertThat(ExpositionFormat.negotiate(List.of("application/openmetrics-text;q=0")))
                .isEqualTo(ExpositionFormat.PROMETHEUS_TEXT);
        // Several header lines, mixed case, parameters with spaces: like upstream's own test.
        assertThat(ExpositionFormat.negotiate(List.of("application/json", "Application/OpenMetrics-Text; other stuff")))
                .isEqualTo(ExpositionFormat.OPENMETRICS);
        // A tie goes to OpenMetrics, as upstream picks it whenever it is listed.
        assertThat(ExpositionFormat.negotiate(List.of("text/plain, application/openmetrics-text")))
                .isEqualTo(ExpositionFormat.OPENMETRICS);
    }

    @Property(tries = 300)
    void anyLabelValueSurvivesTheRoundTrip(@ForAll String value, @ForAll boolean openMetrics) {
        ExpositionFormat format = openMetrics ? ExpositionFormat.OPENMETRICS : ExpositionFormat.PROMETHEUS_TEXT;
        String sane = value.replace('\r', ' '); // lone surrogates are replaced by UTF-8 encoding below
        sane = new String(sane.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8);
        try (ZtunnelMetrics metrics = ZtunnelMetrics.builder().jvmMetrics(false).build()) {
            metrics.traffic()
                    .open(
                            TrafficLabels.builder(Reporter.SOURCE)
                                    .sourceWorkload(sane)
                                    .build(),
                            Set.of())
                    .close(ResponseFlags.NONE);
            String got = requireFamily(
                            StrictExpositionParser.parse(metrics.scrape(format), format),
                            openMetrics ? "istio_tcp_connections_opened" : "istio_tcp_connections_opened_total")
                    .samples()
                    .getFirst()
                    .label("source_workload");
            assertThat(got).isEqualTo(sane.isEmpty() ? "unknown" : sane);
        }
    }
}
