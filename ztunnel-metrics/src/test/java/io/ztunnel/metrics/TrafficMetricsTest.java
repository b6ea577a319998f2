package io.ztunnel.metrics;

import static io.ztunnel.metrics.StrictExpositionParser.requireFamily;
import static io.ztunnel.metrics.TestLabels.ISTIO_ORDER;
import static io.ztunnel.metrics.TestLabels.linesMentioning;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ztunnel.metrics.StrictExpositionParser.Family;
import io.ztunnel.metrics.StrictExpositionParser.Sample;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Exact exposition of the traffic families for known sequences of connection events. */
class TrafficMetricsTest {
    private final ZtunnelMetrics metrics =
            ZtunnelMetrics.builder().jvmMetrics(false).build();
    private final TrafficMetrics traffic = metrics.traffic();

    @AfterEach
    void close() {
        metrics.close();
    }

    /** The sleep→httpbin label set as Istio renders it, written out by hand; FLAGS is substituted. */
    private static final String SLEEP_TO_HTTPBIN = "{reporter=\"destination\","
            + "source_workload=\"sleep\",source_canonical_service=\"sleep\",source_canonical_revision=\"latest\","
            + "source_workload_namespace=\"default\",source_principal=\"spiffe://cluster.local/ns/default/sa/sleep\","
            + "source_app=\"sleep\",source_version=\"latest\",source_cluster=\"Kubernetes\","
            + "destination_service=\"httpbin.default.svc.cluster.local\",destination_service_namespace=\"default\","
            + "destination_service_name=\"httpbin\",destination_workload=\"httpbin\","
            + "destination_canonical_service=\"httpbin\",destination_canonical_revision=\"v1\","
            + "destination_workload_namespace=\"default\","
            + "destination_principal=\"spiffe://cluster.local/ns/default/sa/httpbin\","
            + "destination_app=\"httpbin\",destination_version=\"v1\",destination_cluster=\"Kubernetes\","
            + "request_protocol=\"tcp\",response_flags=\"FLAGS\",connection_security_policy=\"mutual_tls\","
            + "source_region=\"europe-west1\",source_zone=\"europe-west1-b\","
            + "destination_region=\"unknown\",destination_zone=\"unknown\"}";

    private static String series(String flags) {
        return SLEEP_TO_HTTPBIN.replace("FLAGS", flags);
    }

    @Test
    void knownSequenceProducesExactTextExposition() {
        TrafficSeries first = traffic.open(TestLabels.sleepToHttpbin(), Set.of("sleep-pod", "httpbin-pod"));
        TrafficSeries second = traffic.open(TestLabels.sleepToHttpbin(), Set.of("sleep-pod", "httpbin-pod"));
        first.addReceived(100);
        first.addSent(1000);
        second.addReceived(200);
        second.addSent(3000);
        first.close(ResponseFlags.NONE);
        second.close(ResponseFlags.DENY); // e.g. rejected later by a policy change

        String expected = ""
                + "# HELP istio_tcp_connections_opened_total Total number of TCP connections opened.\n"
                + "# TYPE istio_tcp_connections_opened_total counter\n"
                + "istio_tcp_connections_opened_total" + series("-") + " 2\n"
                + "# HELP istio_tcp_connections_closed_total Total number of TCP connections closed.\n"
                + "# TYPE istio_tcp_connections_closed_total counter\n"
                + "istio_tcp_connections_closed_total" + series("-") + " 1\n"
                + "istio_tcp_connections_closed_total" + series("DENY") + " 1\n"
                + "# HELP istio_tcp_received_bytes_total Total bytes received on TCP connections, client to server, for both reporters.\n"
                + "# TYPE istio_tcp_received_bytes_total counter\n"
                + "istio_tcp_received_bytes_total" + series("-") + " 300\n"
                + "# HELP istio_tcp_sent_bytes_total Total bytes sent on TCP connections, server to client, for both reporters.\n"
                + "# TYPE istio_tcp_sent_bytes_total counter\n"
                + "istio_tcp_sent_bytes_total" + series("-") + " 4000\n"
                + "# HELP istio_tcp_connections_failed_total Total number of TCP connections that ended with a failure response flag (unstable).\n"
                + "# TYPE istio_tcp_connections_failed_total counter\n"
                + "istio_tcp_connections_failed_total" + series("DENY") + " 1\n";
        assertThat(linesMentioning(metrics.scrape(ExpositionFormat.PROMETHEUS_TEXT), "istio_tcp_"))
                .isEqualTo(expected);
    }

    @Test
    void knownSequenceProducesExactOpenMetricsExposition() {
        TrafficSeries conn = traffic.open(TestLabels.sleepToHttpbin(), Set.of("sleep-pod"));
        conn.addReceived(5);
        conn.close(ResponseFlags.NONE);

        String om = metrics.scrape(ExpositionFormat.OPENMETRICS);
        assertThat(linesMentioning(om, "istio_tcp_connections_opened"))
                .isEqualTo(""
                        + "# HELP istio_tcp_connections_opened Total number of TCP connections opened.\n"
                        + "# TYPE istio_tcp_connections_opened counter\n"
                        + "istio_tcp_connections_opened_total" + series("-") + " 1\n");
        assertThat(linesMentioning(om, "istio_tcp_received_bytes"))
                .isEqualTo(""
                        + "# HELP istio_tcp_received_bytes Total bytes received on TCP connections, client to server, for both reporters.\n"
                        + "# TYPE istio_tcp_received_bytes counter\n"
                        + "istio_tcp_received_bytes_total" + series("-") + " 5\n");
        assertThat(om).endsWith("# EOF\n");
    }

    @Test
    void everyLabelIsPresentInIstioOrderWithUnknownForMissingValues() {
        TrafficLabels sparse = TrafficLabels.builder(Reporter.SOURCE)
                .sourceWorkload("sleep")
                .sourceCanonicalService("") // empty counts as missing
                .destinationService("httpbin.default.svc.cluster.local")
                .build();
        traffic.open(sparse, Set.of()).close(ResponseFlags.NONE);

        Map<String, Family> parsed = StrictExpositionParser.parse(
                metrics.scrape(ExpositionFormat.PROMETHEUS_TEXT), ExpositionFormat.PROMETHEUS_TEXT);
        Sample s = requireFamily(parsed, "istio_tcp_connections_opened_total")
                .samples()
                .getFirst();
        assertThat(List.copyOf(s.labels().keySet())).containsExactlyElementsOf(ISTIO_ORDER);
        assertThat(s.label("reporter")).isEqualTo("source");
        assertThat(s.label("source_workload")).isEqualTo("sleep");
        assertThat(s.label("destination_service")).isEqualTo("httpbin.default.svc.cluster.local");
        assertThat(s.label("request_protocol")).isEqualTo("tcp");
        assertThat(s.label("response_flags")).isEqualTo("-");
        assertThat(s.label("connection_security_policy")).isEqualTo("unknown");
        for (String name : ISTIO_ORDER) {
            if (!Set.of(
                            "reporter",
                            "source_workload",
                            "destination_service",
                            "request_protocol",
                            "response_flags",
                            "connection_security_policy")
                    .contains(name)) {
                assertThat(s.label(name)).as(name).isEqualTo("unknown");
            }
        }
    }

    @Test
    void localityLabelsAreLeftOutWhenNoWorkloadIsKnown() {
        // Upstream emits the four locality labels only when source or destination workload info exists.
        TrafficLabels serviceOnly = TrafficLabels.builder(Reporter.SOURCE)
                .destinationService("example.com")
                .build();
        traffic.open(serviceOnly, Set.of()).close(ResponseFlags.NONE);

        Sample s = requireFamily(
                        StrictExpositionParser.parse(
                                metrics.scrape(ExpositionFormat.PROMETHEUS_TEXT), ExpositionFormat.PROMETHEUS_TEXT),
                        "istio_tcp_connections_opened_total")
                .samples()
                .getFirst();
        assertThat(List.copyOf(s.labels().keySet())).containsExactlyElementsOf(ISTIO_ORDER.subList(0, 23));
    }

    @Test
    void byteCountersShowProgressWhileTheConnectionIsOpen() {
        TrafficSeries conn = traffic.open(TestLabels.sleepToHttpbin(), Set.of("sleep-pod"));
        conn.addReceived(1024);
        conn.addSent(10);
        assertThat(value("istio_tcp_received_bytes_total", "-")).isEqualTo(1024);
        assertThat(value("istio_tcp_sent_bytes_total", "-")).isEqualTo(10);
        assertThat(familyOrNull("istio_tcp_connections_closed_total")).isNull(); // nothing closed yet

        conn.addReceived(4096);
        assertThat(value("istio_tcp_received_bytes_total", "-")).isEqualTo(5120);

        conn.close(ResponseFlags.NONE);
        assertThat(value("istio_tcp_received_bytes_total", "-")).isEqualTo(5120);
        assertThat(conn.receivedBytes()).isEqualTo(5120);
        assertThat(conn.sentBytes()).isEqualTo(10);
    }

    @Test
    void failureBeforeRelayingLandsInTheFlagSeriesOnly() {
        traffic.failed(TestLabels.sleepToHttpbin(), Set.of("sleep-pod", "httpbin-pod"), ResponseFlags.DENY);
        traffic.failed(TestLabels.sleepToHttpbin(), Set.of("sleep-pod", "httpbin-pod"), ResponseFlags.CONNECT);

        assertThat(value("istio_tcp_connections_opened_total", "DENY")).isEqualTo(1);
        assertThat(value("istio_tcp_connections_closed_total", "DENY")).isEqualTo(1);
        assertThat(value("istio_tcp_connections_failed_total", "DENY")).isEqualTo(1);
        assertThat(value("istio_tcp_connections_failed_total", "CONNECT")).isEqualTo(1);
        // No relay happened: no "-" series and no byte families at all (empty families are omitted).
        assertThat(family("istio_tcp_connections_opened_total").samples())
                .extracting(s -> s.label("response_flags"))
                .containsExactly("CONNECT", "DENY");
        assertThat(familyOrNull("istio_tcp_received_bytes_total")).isNull();
        assertThat(familyOrNull("istio_tcp_sent_bytes_total")).isNull();
    }

    @Test
    void failedRejectsTheSuccessFlag() {
        assertThatThrownBy(() -> traffic.failed(TestLabels.sleepToHttpbin(), Set.of(), ResponseFlags.NONE))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("flags");
    }

    @Test
    void closingTwiceCountsOnce() {
        TrafficSeries conn = traffic.open(TestLabels.sleepToHttpbin(), Set.of("sleep-pod"));
        assertThat(conn.close(ResponseFlags.NONE)).isTrue();
        assertThat(conn.close(ResponseFlags.DENY)).isFalse();
        assertThat(value("istio_tcp_connections_closed_total", "-")).isEqualTo(1);
        assertThat(familyOrNull("istio_tcp_connections_failed_total")).isNull();
    }

    @Test
    void negativeByteCountsAreRejected() {
        TrafficSeries conn = traffic.open(TestLabels.sleepToHttpbin(), Set.of());
        assertThatThrownBy(() -> conn.addReceived(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> conn.addSent(-1)).isInstanceOf(IllegalArgumentException.class);
        conn.addReceived(0);
        assertThat(value("istio_tcp_received_bytes_total", "-")).isZero();
    }

    @Test
    void socketsOpenGaugeTracksEachReporter() {
        assertThat(familyOrNull("istio_tcp_sockets_open")).isNull();
        traffic.socketOpened(Reporter.SOURCE);
        traffic.socketOpened(Reporter.SOURCE);
        traffic.socketOpened(Reporter.DESTINATION);
        traffic.socketClosed(Reporter.SOURCE);

        Family f = family("istio_tcp_sockets_open");
        assertThat(f.type()).isEqualTo("gauge");
        assertThat(f.samples())
                .extracting(s -> s.label("reporter") + "=" + (long) s.value())
                .containsExactly("source=1", "destination=1");
    }

    @Test
    void labelValuesAreEscaped() {
        TrafficLabels nasty = TrafficLabels.builder(Reporter.SOURCE)
                .sourceWorkload("a\\b\"c\nd")
                .destinationService("ünïcødé.example")
                .build();
        traffic.open(nasty, Set.of()).close(ResponseFlags.NONE);
        String text = metrics.scrape(ExpositionFormat.PROMETHEUS_TEXT);
        assertThat(text).contains("source_workload=\"a\\\\b\\\"c\\nd\"");
        Sample s = requireFamily(
                        StrictExpositionParser.parse(text, ExpositionFormat.PROMETHEUS_TEXT),
                        "istio_tcp_connections_opened_total")
                .samples()
                .getFirst();
        assertThat(s.label("source_workload")).isEqualTo("a\\b\"c\nd");
        assertThat(s.label("destination_service")).isEqualTo("ünïcødé.example");
    }

    private Map<String, Family> scrape() {
        return StrictExpositionParser.parse(
                metrics.scrape(ExpositionFormat.PROMETHEUS_TEXT), ExpositionFormat.PROMETHEUS_TEXT);
    }

    private Family family(String name) {
        return requireFamily(scrape(), name);
    }

    private @Nullable Family familyOrNull(String name) {
        return scrape().get(name);
    }

    private long value(String family, String flags) {
        return family(family).samples().stream()
                .filter(s -> s.label("response_flags").equals(flags))
                .mapToLong(s -> (long) s.value())
                .reduce((a, b) -> {
                    throw new AssertionError("two series with response_flags=" + flags);
                })
                .orElseThrow(() -> new AssertionError("no series with response_flags=" + flags + " in " + family));
    }
}
