package io.ztunnel.bench.jmh;

import io.ztunnel.core.routing.OutboundRouter;
import io.ztunnel.core.routing.Route;
import io.ztunnel.core.routing.RoutingConfig;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Workload;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
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
 * State lookups and outbound routing on a mesh of {@code workloads} pods and one service (10 endpoints) per 10 pods:
 * pod-IP lookup, VIP lookup, and whole outbound decisions (VIP → load-balanced endpoint pick, and pod IP).
 * Destinations rotate over 1,024 precomputed addresses so the indexes are not read from one hot cache line.
 */
@Fork(
        value = 1,
        jvmArgsAppend = {"-XX:+UseCompactObjectHeaders", "-Xmx1g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class RoutingBenchmark {
    @Param({"10000"})
    public int workloads;

    private ProxyState state;
    private Workload source;
    private OutboundRouter router;
    private final NetworkAddress[] podAddresses = new NetworkAddress[1024];
    private final NetworkAddress[] vipAddresses = new NetworkAddress[1024];
    private final InetSocketAddress[] podTargets = new InetSocketAddress[1024];
    private final InetSocketAddress[] vipTargets = new InetSocketAddress[1024];
    private int next;

    @Setup
    public void setup() throws Exception {
        state = MeshFixture.build(workloads, 0);
        source = Objects.requireNonNull(state.workload("Kubernetes//Pod/ns1/pod-1"), "no such fixture workload");
        router = new OutboundRouter(RoutingConfig.defaults(false), new SplittableRandom(42));
        SplittableRandom r = new SplittableRandom(7);
        for (int i = 0; i < 1024; i++) {
            InetAddress pod = InetAddress.getByName(MeshFixture.workloadIp(1 + r.nextInt(workloads)));
            InetAddress vip = InetAddress.getByName(MeshFixture.vip(1 + r.nextInt(workloads / 10)));
            podAddresses[i] = new NetworkAddress("", pod);
            vipAddresses[i] = new NetworkAddress("", vip);
            podTargets[i] = new InetSocketAddress(pod, 8080);
            vipTargets[i] = new InetSocketAddress(vip, 80);
        }
        if (!(router.route(state, source, vipTargets[0]) instanceof Route.Hbone)
                || state.workloadByAddress(podAddresses[0]) == null
                || state.servicesByVip(vipAddresses[0]).isEmpty()) {
            throw new IllegalStateException(
                    "fixture does not route as expected: " + router.route(state, source, vipTargets[0]));
        }
    }

    private int index() {
        return next = (next + 1) & 1023;
    }

    @Benchmark
    public @Nullable Workload workloadByPodIp() {
        return state.workloadByAddress(podAddresses[index()]);
    }

    @Benchmark
    public List<?> servicesByVip() {
        return state.servicesByVip(vipAddresses[index()]);
    }

    @Benchmark
    public Route routeVipWithLoadBalancing() {
        return router.route(state, source, vipTargets[index()]);
    }

    @Benchmark
    public Route routePodIp() {
        return router.route(state, source, podTargets[index()]);
    }
}
