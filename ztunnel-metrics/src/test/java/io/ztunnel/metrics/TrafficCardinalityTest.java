package io.ztunnel.metrics;

import static io.ztunnel.metrics.StrictExpositionParser.requireFamily;
import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.metrics.StrictExpositionParser.Family;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Series of removed workloads leave the exposition; series of live ones never reset. */
class TrafficCardinalityTest {
    private final ZtunnelMetrics metrics =
            ZtunnelMetrics.builder().jvmMetrics(false).build();
    private final TrafficMetrics traffic = metrics.traffic();

    @AfterEach
    void close() {
        metrics.close();
    }

    @Test
    void removedWorkloadSeriesDisappearsWhenItsLastConnectionCloses() {
        TrafficLabels cronToDb = TestLabels.outbound("report-28391", "db");
        TrafficSeries conn = traffic.open(cronToDb, Set.of("pod/report-28391-x", "pod/db-0"));
        conn.addReceived(42);

        traffic.workloadRemoved("pod/report-28391-x");
        // Still open: the series stays and keeps counting.
        conn.addReceived(8);
        assertThat(sourceWorkloads("istio_tcp_received_bytes_total")).containsExactly("report-28391");
        assertThat(receivedBytes("report-28391")).isEqualTo(50);

        conn.close(ResponseFlags.NONE);
        assertThat(sourceWorkloads("istio_tcp_connections_opened_total")).isEmpty();
        assertThat(familyOrNull("istio_tcp_received_bytes_total")).isNull();
        assertThat(traffic.seriesCount()).isZero();
    }

    @Test
    void removedWorkloadWithoutOpenConnectionsDisappearsAtOnce() {
        traffic.open(TestLabels.outbound("job-1", "db"), Set.of("pod/job-1", "pod/db-0"))
                .close(ResponseFlags.NONE);
        traffic.failed(TestLabels.outbound("job-1", "db"), Set.of("pod/job-1", "pod/db-0"), ResponseFlags.DENY);
        assertThat(traffic.seriesCount()).isEqualTo(2);

        traffic.workloadRemoved("pod/db-0"); // either end going away ends the pair

        assertThat(traffic.seriesCount()).isZero();
        assertThat(familyOrNull("istio_tcp_connections_opened_total")).isNull();
    }

    @Test
    void unrelatedSeriesStayAndKeepTheirCounts() {
        traffic.open(TestLabels.outbound("web", "api"), Set.of("pod/web-1", "pod/api-1"))
                .close(ResponseFlags.NONE);
        traffic.open(TestLabels.outbound("job-7", "api"), Set.of("pod/job-7", "pod/api-1"))
                .close(ResponseFlags.NONE);

        traffic.workloadRemoved("pod/job-7");

        assertThat(sourceWorkloads("istio_tcp_connections_opened_total")).containsExactly("web");
        traffic.open(TestLabels.outbound("web", "api"), Set.of("pod/web-1", "pod/api-1"))
                .close(ResponseFlags.NONE);
        assertThat(opened("web")).isEqualTo(2); // no reset for a live workload
    }

    @Test
    void seriesSharedByTwoPodsStaysWhileOneOfThemLives() {
        // Two replicas of one deployment render the same labels: one series, two workload sets.
        TrafficLabels webToApi = TestLabels.outbound("web", "api");
        traffic.open(webToApi, Set.of("pod/web-1", "pod/api-1")).close(ResponseFlags.NONE);
        traffic.open(webToApi, Set.of("pod/web-2", "pod/api-1")).close(ResponseFlags.NONE);

        traffic.workloadRemoved("pod/web-1");
        assertThat(opened("web")).isEqualTo(2);

        traffic.workloadRemoved("pod/web-2");
        assertThat(sourceWorkloads("istio_tcp_connections_opened_total")).isEmpty();
    }

    @Test
    void lateDenialOfARemovedWorkloadLeavesNoSeriesBehind() {
        TrafficSeries conn = traffic.open(TestLabels.outbound("job-9", "db"), Set.of("pod/job-9", "pod/db-0"));
        traffic.workloadRemoved("pod/job-9");

        conn.close(ResponseFlags.DENY); // the DENY series would otherwise be created after the removal

        assertThat(traffic.seriesCount()).isZero();
    }

    @Test
    void seriesWithoutWorkloadKeysArePinned() {
        traffic.open(TestLabels.outbound("unknown-peer", "db"), Set.of()).close(ResponseFlags.NONE);
        traffic.workloadRemoved("pod/anything");
        traffic.retainWorkloads(key -> false);
        assertThat(sourceWorkloads("istio_tcp_connections_opened_total")).containsExactly("unknown-peer");
    }

    @Test
    void retainWorkloadsDropsWhatTheCurrentStateNoLongerHas() {
        traffic.open(TestLabels.outbound("web", "api"), Set.of("pod/web-1", "pod/api-1"))
                .close(ResponseFlags.NONE);
        traffic.open(TestLabels.outbound("job-3", "api"), Set.of("pod/job-3", "pod/api-1"))
                .close(ResponseFlags.NONE);

        Set<String> live = Set.of("pod/web-1", "pod/api-1");
        traffic.retainWorkloads(live::contains);

        assertThat(sourceWorkloads("istio_tcp_connections_opened_total")).containsExactly("web");
    }

    @Test
    void aReturningWorkloadStartsAFreshSeries() {
        TrafficLabels labels = TestLabels.outbound("db", "db");
        traffic.open(labels, Set.of("pod/db-0")).close(ResponseFlags.NONE);
        traffic.workloadRemoved("pod/db-0");
        traffic.open(labels, Set.of("pod/db-0")).close(ResponseFlags.NONE); // StatefulSet pod recreated

        assertThat(opened("db")).isEqualTo(1);
        traffic.open(labels, Set.of("pod/db-0")).close(ResponseFlags.NONE);
        assertThat(opened("db")).isEqualTo(2);
    }

    @Test
    void aReturningWorkloadRevivesASeriesThatWasStillInUse() {
        TrafficLabels labels = TestLabels.outbound("db", "db");
        TrafficSeries old = traffic.open(labels, Set.of("pod/db-0"));
        traffic.workloadRemoved("pod/db-0");
        TrafficSeries fresh = traffic.open(labels, Set.of("pod/db-0")); // recreated under the same key
        old.close(ResponseFlags.NONE);
        fresh.close(ResponseFlags.NONE);

        assertThat(opened("db")).isEqualTo(2); // no reset
        traffic.workloadRemoved("pod/db-0");
        assertThat(traffic.seriesCount()).isZero();
    }

    private Map<String, Family> scrape() {
        return StrictExpositionParser.parse(
                metrics.scrape(ExpositionFormat.PROMETHEUS_TEXT), ExpositionFormat.PROMETHEUS_TEXT);
    }

    private @Nullable Family familyOrNull(String name) {
        return scrape().get(name);
    }

    private Set<String> sourceWorkloads(String family) {
        Family f = familyOrNull(family);
        return f == null
                ? Set.of()
                : f.samples().stream().map(s -> s.label("source_workload")).collect(Collectors.toSet());
    }

    private long opened(String sourceWorkload) {
        return (long) requireFamily(scrape(), "istio_tcp_connections_opened_total").samples().stream()
                .filter(s -> s.label("source_workload").equals(sourceWorkload))
                .findFirst()
                .orElseThrow()
                .value();
    }

    private long receivedBytes(String sourceWorkload) {
        return (long) requireFamily(scrape(), "istio_tcp_received_bytes_total").samples().stream()
                .filter(s -> s.label("source_workload").equals(sourceWorkload))
                .findFirst()
                .orElseThrow()
                .value();
    }
}
