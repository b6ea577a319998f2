package io.ztunnel.metrics;

import static io.ztunnel.metrics.StrictExpositionParser.requireFamily;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ztunnel.metrics.StrictExpositionParser.Family;
import io.ztunnel.metrics.StrictExpositionParser.Sample;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Every family of the registry, in both formats, through the strict parser. */
class ZtunnelMetricsTest {
    private final ZtunnelMetrics metrics =
            ZtunnelMetrics.builder().buildTag("1.26.1").build();

    @AfterEach
    void close() {
        metrics.close();
    }

    /** Puts something in every family this module renders. */
    static void exerciseEverything(ZtunnelMetrics metrics) {
        TrafficSeries open = metrics.traffic().open(TestLabels.sleepToHttpbin(), Set.of("sleep-pod"));
        open.addReceived(10);
        open.addSent(20);
        metrics.traffic().failed(TestLabels.sleepToHttpbin(), Set.of("sleep-pod"), ResponseFlags.DENY);
        metrics.traffic().socketOpened(Reporter.DESTINATION);
        metrics.xds().terminated(XdsTerminationReason.RECONNECT);
        metrics.xds().terminated(XdsTerminationReason.RECONNECT);
        metrics.xds().terminated(XdsTerminationReason.CONNECTION_ERROR);
        metrics.xds().messageReceived("type.googleapis.com/istio.workload.Address", 1500);
        metrics.xds().messageReceived("type.googleapis.com/istio.workload.Address", 500);
        metrics.xds().messageReceived("type.googleapis.com/istio.security.Authorization", 70);
        metrics.workloadManager().setActive(3);
        metrics.workloadManager().setPending(1);
        metrics.workloadManager().proxyStarted();
        metrics.workloadManager().proxyStarted();
        metrics.workloadManager().proxyStopped();
        DnsMetrics.Labels dns = new DnsMetrics.Labels("a", "udp", "sleep", "v1");
        metrics.dns().request(dns);
        metrics.dns().upstreamRequest(dns);
        metrics.dns().upstreamFailure(dns);
        metrics.dns().upstreamDuration(dns, 2_000_000);
        metrics.dns().dropped(DnsMetrics.DropReason.MALFORMED);
        metrics.crl().rejected(Reporter.DESTINATION);
        metrics.crl().rejected(Reporter.DESTINATION);
        metrics.crl().rejected(Reporter.SOURCE);
        metrics.crl().untracked(Reporter.SOURCE);
    }

    @ParameterizedTest
    @EnumSource(ExpositionFormat.class)
    void fullExpositionIsValidAndCarriesEveryFamily(ExpositionFormat format) {
        exerciseEverything(metrics);
        String text = metrics.scrape(format);
        Map<String, Family> families = StrictExpositionParser.parse(text, format);
        boolean om = format == ExpositionFormat.OPENMETRICS;
        String c = om ? "" : "_total"; // counter family names carry _total only in text 0.0.4

        assertThat(families.keySet())
                .startsWith(
                        "istio_build",
                        "istio_tcp_connections_opened" + c,
                        "istio_tcp_connections_closed" + c,
                        "istio_tcp_received_bytes" + c,
                        "istio_tcp_sent_bytes" + c,
                        "istio_tcp_connections_failed" + c,
                        "istio_tcp_sockets_open",
                        "istio_xds_connection_terminations" + c,
                        "istio_xds_message" + c,
                        "istio_xds_message_bytes" + c,
                        "workload_manager_active_proxy_count",
                        "workload_manager_pending_proxy_count",
                        "workload_manager_proxies_started" + c,
                        "workload_manager_proxies_stopped" + c,
                        "istio_dns_requests" + c,
                        "istio_dns_upstream_requests" + c,
                        "istio_dns_upstream_failures" + c,
                        "istio_dns_upstream_request_duration_seconds",
                        "ztunnel_dns_dropped_requests" + c,
                        "istio_crl_policy_rejections" + c,
                        "istio_crl_untracked_connections" + c,
                        "process_open_fds",
                        "process_max_fds");
        // The JVM's own metrics follow (micrometer names).
        assertThat(families)
                .containsKeys(
                        "jvm_memory_used_bytes",
                        "jvm_threads_live_threads",
                        "jvm_classes_loaded_classes",
                        "process_cpu_usage",
                        "process_uptime_seconds");
        assertThat(families.keySet()).anyMatch(n -> n.startsWith("jvm_gc_"));
        assertThat(families.values())
                .allSatisfy(f -> assertThat(f.help()).as(f.name()).isNotBlank());

        Sample build = requireFamily(families, "istio_build").samples().getFirst();
        assertThat(requireFamily(families, "istio_build").type()).isEqualTo("gauge");
        assertThat(build.labels()).containsExactly(Map.entry("component", "ztunnel"), Map.entry("tag", "1.26.1"));
        assertThat(build.value()).isEqualTo(1);

        assertThat(values(requireFamily(families, "istio_xds_connection_terminations" + c), "reason"))
                .containsExactly(Map.entry("ConnectionError", 1L), Map.entry("Reconnect", 2L));
        assertThat(values(requireFamily(families, "istio_xds_message" + c), "url"))
                .containsExactly(
                        Map.entry("type.googleapis.com/istio.security.Authorization", 1L),
                        Map.entry("type.googleapis.com/istio.workload.Address", 2L));
        assertThat(values(requireFamily(families, "istio_xds_message_bytes" + c), "url"))
                .containsExactly(
                        Map.entry("type.googleapis.com/istio.security.Authorization", 70L),
                        Map.entry("type.googleapis.com/istio.workload.Address", 2000L));

        assertThat(single(families, "workload_manager_active_proxy_count")).isEqualTo(3);
        assertThat(single(families, "workload_manager_pending_proxy_count")).isEqualTo(1);
        assertThat(single(families, "workload_manager_proxies_started" + c)).isEqualTo(2);
        assertThat(single(families, "workload_manager_proxies_stopped" + c)).isEqualTo(1);
        assertThat(requireFamily(families, "workload_manager_proxies_started" + c)
                        .samples()
                        .getFirst()
                        .name())
                .isEqualTo("workload_manager_proxies_started_total");

        assertThat(values(requireFamily(families, "istio_crl_policy_rejections" + c), "reporter"))
                .containsOnly(Map.entry("destination", 2L), Map.entry("source", 1L));
        assertThat(values(requireFamily(families, "istio_crl_untracked_connections" + c), "reporter"))
                .containsExactly(Map.entry("source", 1L));

        assertThat(single(families, "process_open_fds")).isPositive();
        assertThat(single(families, "process_max_fds")).isGreaterThanOrEqualTo(single(families, "process_open_fds"));

        if (om) {
            assertThat(text).endsWith("\n# EOF\n");
            assertThat(text.indexOf("# EOF")).isEqualTo(text.lastIndexOf("# EOF"));
        } else {
            assertThat(text).doesNotContain("# EOF");
        }
    }

    @Test
    void emptyFamiliesAreOmitted() {
        String text = metrics.scrape(ExpositionFormat.PROMETHEUS_TEXT);
        assertThat(text).doesNotContain("istio_tcp_", "istio_xds_", "istio_crl_");
        assertThat(text).contains("istio_build{component=\"ztunnel\",tag=\"1.26.1\"} 1\n");
    }

    @ParameterizedTest
    @EnumSource(ExpositionFormat.class)
    void withoutJvmMetricsTheExpositionIsStillComplete(ExpositionFormat format) {
        try (ZtunnelMetrics bare =
                ZtunnelMetrics.builder().jvmMetrics(false).buildTag(null).build()) {
            exerciseEverything(bare);
            String text = bare.scrape(format);
            Map<String, Family> families = StrictExpositionParser.parse(text, format);
            assertThat(families.keySet()).noneMatch(n -> n.startsWith("jvm_"));
            assertThat(requireFamily(families, "istio_build")
                            .samples()
                            .getFirst()
                            .label("tag"))
                    .isEqualTo("unknown");
            assertThat(text.endsWith("# EOF\n")).isEqualTo(format == ExpositionFormat.OPENMETRICS);
        }
    }

    @Test
    void workloadManagerFamiliesCanBeLeftOut() {
        try (ZtunnelMetrics m = ZtunnelMetrics.builder()
                .jvmMetrics(false)
                .workloadManagerMetrics(false)
                .build()) {
            m.workloadManager().proxyStarted();
            assertThat(m.scrape(ExpositionFormat.PROMETHEUS_TEXT)).doesNotContain("workload_manager_");
        }
    }

    @Test
    void buildTagIsEscaped() {
        try (ZtunnelMetrics m =
                ZtunnelMetrics.builder().jvmMetrics(false).buildTag("1.0\"\\\n").build()) {
            Sample build = requireFamily(
                            StrictExpositionParser.parse(
                                    m.scrape(ExpositionFormat.OPENMETRICS), ExpositionFormat.OPENMETRICS),
                            "istio_build")
                    .samples()
                    .getFirst();
            assertThat(build.label("tag")).isEqualTo("1.0\"\\\n");
        }
    }

    @Test
    void recordingApisRejectNonsense() {
        assertThatThrownBy(() -> metrics.workloadManager().setActive(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> metrics.workloadManager().setPending(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> metrics.xds().messageReceived("t", -5)).isInstanceOf(IllegalArgumentException.class);
    }

    private static Map<String, Long> values(Family f, String label) {
        Map<String, Long> out = new LinkedHashMap<>();
        for (Sample s : f.samples()) {
            out.put(s.label(label), (long) s.value());
        }
        return out;
    }

    private static long single(Map<String, Family> families, String name) {
        Family f = families.get(name);
        assertThat(f).as(name).isNotNull();
        assertThat(f.samples()).as(name).hasSize(1);
        return (long) f.samples().getFirst().value();
    }
}
