package io.ztunnel.bench.jmh;

import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.rbac.Authorizer;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Workload;
import java.net.InetAddress;
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
 * L4 authorization of one inbound connection with {@code policies} ALLOW policies applying to the destination; the
 * allowed client matches only the last one (worst case, as in ztunnel's {@code rbac} criterion group), the denied
 * client matches none.
 */
@Fork(
        value = 1,
        jvmArgsAppend = {"-XX:+UseCompactObjectHeaders", "-Xmx1g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class RbacBenchmark {
    @Param({"10000"})
    public int policies;

    private ProxyState state;
    private Workload destination;
    private Authorizer.Connection allowed;
    private Authorizer.Connection denied;

    @Setup
    public void setup() throws Exception {
        state = MeshFixture.build(1000, policies);
        destination = Objects.requireNonNull(state.workload("Kubernetes//Pod/ns0/pod-0"), "no such fixture workload");
        InetAddress dst = InetAddress.getByName(MeshFixture.workloadIp(1));
        InetAddress src = InetAddress.getByName("10.200.0.1");
        allowed = new Authorizer.Connection(src, new SpiffeId("cluster.local", "client", "client"), dst, 8080);
        denied = new Authorizer.Connection(src, new SpiffeId("cluster.local", "client", "intruder"), dst, 8080);
        if (!Authorizer.evaluate(state, destination, allowed).allowed()
                || Authorizer.evaluate(state, destination, denied).allowed()) {
            throw new IllegalStateException("fixture does not decide as expected");
        }
    }

    @Benchmark
    public Authorizer.Decision allowLastOf10000() {
        return Authorizer.evaluate(state, destination, allowed);
    }

    @Benchmark
    public Authorizer.Decision denyNoneMatch() {
        return Authorizer.evaluate(state, destination, denied);
    }
}
