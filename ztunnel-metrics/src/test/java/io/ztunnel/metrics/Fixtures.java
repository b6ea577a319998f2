package io.ztunnel.metrics;

import java.util.Set;

/** Fills every family of a {@link ZtunnelMetrics}, including label values that need escaping. */
public final class Fixtures {
    private Fixtures() {}

    public static void exerciseEverything(ZtunnelMetrics metrics) {
        ZtunnelMetricsTest.exerciseEverything(metrics);
        TrafficLabels awkward = TrafficLabels.builder(Reporter.SOURCE)
                .sourceWorkload("back\\slash \"quoted\"\nnew line")
                .sourceWorkloadNamespace("ns-ünïcødé-日本")
                .destinationService("{curly},comma=equals")
                .destinationWorkload("db")
                .build();
        TrafficSeries c = metrics.traffic().open(awkward, Set.of("pod/awkward"));
        c.addReceived(3);
        c.close(ResponseFlags.TLS_FAILURE);
    }
}
