package io.ztunnel.core.inpod;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.EventLoopGroup;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.zds.WorkloadInfo;
import io.ztunnel.core.admin.Readiness;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.Env;
import io.ztunnel.core.dns.DnsProxy;
import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.identity.LocalCa;
import io.ztunnel.core.net.Sockets;
import io.ztunnel.core.net.Transport;
import io.ztunnel.core.proxy.ConnectionTelemetry;
import io.ztunnel.core.proxy.ConnectionTracker;
import io.ztunnel.core.proxy.ProxyContext;
import io.ztunnel.core.routing.InboundResolver;
import io.ztunnel.core.routing.OutboundRouter;
import io.ztunnel.core.routing.RoutingConfig;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.core.util.Drain;
import io.ztunnel.core.util.Scheduler;
import io.ztunnel.metrics.ZtunnelMetrics;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The in-pod manager's pod lifecycle against a real state store: pods are this process's own network namespace and
 * their proxies use host sockets on ephemeral ports, so no privilege is needed.
 */
class InpodManagerTest {
    @TempDir
    Path dir;

    private final Transport transport = Transport.best();
    private final EventLoopGroup group = transport.newGroup(1, "inpod-test");
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    private final StateStore store = new StateStore();
    private final Drain drain = new Drain();
    private final List<PodNetns> opened = new ArrayList<>();
    private CertificateManager certificates;
    private InpodManager manager;

    @BeforeEach
    void start() {
        Config config = Config.from(new Env(Map.ofEntries(
                Map.entry("PROXY_MODE", "shared"),
                Map.entry("XDS_ADDRESS", ""),
                Map.entry("CA_ADDRESS", ""),
                Map.entry("LOCAL_CA_DIR", dir.resolve("ca").toString()),
                Map.entry("ENABLE_ORIG_SRC", "false"),
                Map.entry("ISTIO_META_DNS_CAPTURE", "false"),
                Map.entry("IPV6_ENABLED", "false"),
                Map.entry("OUTBOUND_PORT", "0"),
                Map.entry("INBOUND_PLAINTEXT_PORT", "0"),
                Map.entry("INBOUND_HBONE_PORT", "0"))));
        certificates = new CertificateManager(
                LocalCa.loadOrCreate(dir.resolve("ca"), Clock.systemUTC()),
                Duration.ofHours(1),
                config.tls(),
                Scheduler.of(timer, Clock.systemUTC()),
                CertificateManager.DEFAULT_MAX_IN_FLIGHT);
        RoutingConfig routing = new RoutingConfig(
                config.network(),
                config.illegalPorts(),
                config.preferredServiceNamespace(),
                config.ports().inboundHbone());
        ProxyContext ctx = new ProxyContext(
                config,
                transport,
                group,
                store,
                certificates,
                new OutboundRouter(routing, new SplittableRandom()),
                new InboundResolver(routing),
                new ConnectionTracker(drain),
                ConnectionTelemetry.NONE,
                drain,
                timer);
        ZtunnelMetrics metrics = ZtunnelMetrics.builder()
                .jvmMetrics(false)
                .workloadManagerMetrics(true)
                .build();
        manager = new InpodManager(
                ctx,
                new Readiness(),
                metrics.workloadManager(),
                reason -> {
                    throw new AssertionError("protocol violation: " + reason);
                },
                DnsProxy.create(config, store, group, transport.isEpoll(), metrics.dns()), // off: DNS_CAPTURE=false
                netns -> Sockets.host(transport));
    }

    @AfterEach
    void stop() throws Exception {
        manager.closeAll();
        certificates.close();
        Transport.shutdown(group);
        timer.shutdownNow();
        for (PodNetns n : opened) {
            n.close(); // closing twice is harmless; the manager closes the ones it was given
        }
    }

    private PodNetns netns() throws IOException {
        PodNetns n = PodNetns.openCurrent();
        opened.add(n);
        return n;
    }

    private void add(String uid) throws IOException {
        manager.addWorkload(uid, new WorkloadInfo(uid, "ns", "sa"), netns())
                .toCompletableFuture()
                .join();
    }

    @Test
    void removedPodsGiveBackTheirStateListeners() throws Exception {
        int baseline = store.listenerCount();
        add("pod-1");
        add("pod-2");
        add("pod-3");
        assertThat(store.listenerCount()).as("one per pod's local workload").isEqualTo(baseline + 3);

        manager.deleteWorkload("pod-1").toCompletableFuture().join();
        assertThat(store.listenerCount()).isEqualTo(baseline + 2);

        manager.snapshotSent(Set.of("pod-2")).toCompletableFuture().join();
        assertThat(store.listenerCount()).as("pod-3 was not in the snapshot").isEqualTo(baseline + 1);

        manager.closeAll();
        assertThat(store.listenerCount()).isEqualTo(baseline);
    }

    @Test
    void aRepeatedAddOfTheSamePodKeepsOneListener() throws Exception {
        int baseline = store.listenerCount();
        add("pod-1");
        add("pod-1"); // the same network namespace: nothing to do
        assertThat(store.listenerCount()).isEqualTo(baseline + 1);
        assertThat(manager.state()).containsOnlyKeys("pod-1");
    }

    @Test
    void theDrainLeavesPodsEnrolledAndTheirListenersInPlaceUntilTheyClose() throws Exception {
        int baseline = store.listenerCount();
        add("pod-1");
        drain.start();
        assertThat(manager.state()).containsOnlyKeys("pod-1");
        assertThat(store.listenerCount()).isEqualTo(baseline + 1);
        manager.closeAll();
        assertThat(store.listenerCount()).isEqualTo(baseline);
    }
}
