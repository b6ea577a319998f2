package io.ztunnel.bench.jmh;

import io.ztunnel.core.app.LogConfig;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.proxy.ConnectionRecord;
import io.ztunnel.core.proxy.ConnectionTracker;
import io.ztunnel.core.proxy.Direction;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Workload;
import io.ztunnel.core.telemetry.TrafficTelemetry;
import io.ztunnel.metrics.ZtunnelMetrics;
import java.net.InetSocketAddress;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Metric recording for one proxied connection, as the data plane does it: the connection record is opened (labels
 * resolved, {@code istio_tcp_connections_opened_total} counted), bytes are reported {@code flushes} times each way
 * (one report per read loop), and it is closed ({@code _closed_total}, access log off). Connections cycle over 64
 * source workloads so a handful of label sets are live, as on a node.
 */
@Fork(
        value = 1,
        jvmArgsAppend = {"-XX:+UseCompactObjectHeaders", "-Xmx1g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class MetricsBenchmark {
    @Param({"16"})
    public int flushes;

    private TrafficTelemetry telemetry;
    private ConnectionTracker tracker;
    private Workload[] sources;
    private Workload destination;
    private InetSocketAddress src;
    private InetSocketAddress dst;
    private int next;

    @Setup
    public void setup() throws Exception {
        LogConfig.configure("warn", false); // the access log is a separate cost (stdout); here: metrics only
        ProxyState state = MeshFixture.build(1000, 0);
        telemetry = new TrafficTelemetry(
                ZtunnelMetrics.builder().jvmMetrics(false).build().traffic());
        tracker = new ConnectionTracker();
        sources = new Workload[64];
        for (int i = 0; i < sources.length; i++) {
            sources[i] = Objects.requireNonNull(
                    state.workload("Kubernetes//Pod/ns" + (i % 100) + "/pod-" + i), "no such fixture workload");
        }
        destination =
                Objects.requireNonNull(state.workload("Kubernetes//Pod/ns99/pod-999"), "no such fixture workload");
        src = new InetSocketAddress(MeshFixture.workloadIp(1), 40000);
        dst = new InetSocketAddress(MeshFixture.workloadIp(1000), 8080);
    }

    @Benchmark
    @SuppressWarnings(
            "NullAway") // ztunnel-core is not null-annotated yet; ConnectionRecord takes null for absent parts
    public ConnectionRecord connectionLifecycle() {
        Workload source = sources[next = (next + 1) & 63];
        ConnectionRecord r = ConnectionRecord.builder(Direction.INBOUND, "ns99/pod-999/sa-999")
                .source(src, source, source.identity())
                .destination(dst, destination, null, new SpiffeId("cluster.local", "ns99", "sa-999"))
                .open(tracker, telemetry);
        r.established(() -> {});
        for (int i = 0; i < flushes; i++) {
            r.bytes(16384, 0);
            r.bytes(0, 16384);
        }
        r.closed(null);
        return r;
    }
}
