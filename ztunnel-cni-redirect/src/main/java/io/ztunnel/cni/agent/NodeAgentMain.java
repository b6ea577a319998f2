package io.ztunnel.cni.agent;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.ztunnel.cni.ErrorText;
import io.ztunnel.cni.agent.enrollment.EnrollmentPolicy;
import io.ztunnel.cni.agent.kube.KubePodHooks;
import io.ztunnel.cni.agent.kube.KubePodSource;
import io.ztunnel.cni.agent.kube.ProcNetnsFinder;
import io.ztunnel.cni.agent.local.LocalFileSource;
import io.ztunnel.cni.exec.CommandException;
import io.ztunnel.cni.exec.CommandRunner;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.rules.HostProbeSnat;
import io.ztunnel.cni.rules.InpodRedirector;
import io.ztunnel.cni.zds.ZdsServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent process: reads {@link AgentConfig} from the environment, serves ZDS on {@code
 * INPOD_UDS}, enrolls pods and serves {@code /readyz}, {@code /status} and {@code /metrics}. Local
 * mode follows the {@code AGENT_LOCAL_CONFIG} file; Kubernetes mode ({@code NODE_NAME}) watches the
 * API server ({@link KubePodSource}; credentials from the pod's service account or kubeconfig),
 * finds pod namespaces under {@code HOST_PROC}, keeps the host probe SNAT rules ({@link
 * HostProbeSnat}, in the namespace of {@code <HOST_PROC>/1}) and writes the pod status annotation
 * ({@link KubePodHooks}). On SIGTERM (or SIGINT) it stops watching,
 * stops the loop, closes the ZDS server (connected daemons see EOF and reconnect to the next
 * agent) and exits; the in-pod rules stay in place, as with istio-cni, so traffic of enrolled pods
 * keeps flowing through the daemon across an agent restart.
 *
 * <p>Threading: {@code main} wires the parts and then waits for the shutdown hook. Ownership:
 * {@link Agent} owns every part and closes them in reverse order.
 */
public final class NodeAgentMain {
    private static final Logger log = LoggerFactory.getLogger(NodeAgentMain.class);

    private NodeAgentMain() {}

    public static void main(String[] args) throws Exception {
        AgentConfig config;
        try {
            config = AgentConfig.fromEnv(System.getenv());
        } catch (AgentConfig.ConfigException e) {
            System.err.println("ztunnel node agent: " + ErrorText.of(e));
            System.exit(2);
            return;
        }
        Agent agent;
        try {
            agent = Agent.start(config);
        } catch (IOException e) {
            log.atError().setMessage("node agent failed to start").setCause(e).log();
            System.err.println("ztunnel node agent: " + ErrorText.of(e));
            System.exit(1);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime()
                .addShutdownHook(Thread.ofPlatform().name("cni-agent-shutdown").unstarted(() -> {
                    log.atInfo()
                            .setMessage("shutting down; in-pod rules stay in place")
                            .log();
                    agent.close();
                    stopped.countDown();
                }));
        stopped.await();
    }

    /**
     * A running agent: source, reconcile loop, ZDS server and status server, wired together. Used by
     * {@code main} and by tests that run whole agents in-process.
     */
    public static final class Agent implements AutoCloseable {
        private final PodSource source;
        private final NodeAgent loop;
        private final ZdsServer zds;
        private final @Nullable StatusServer status;
        private final List<AutoCloseable> extras;

        private Agent(
                PodSource source,
                NodeAgent loop,
                ZdsServer zds,
                @Nullable StatusServer status,
                List<AutoCloseable> extras) {
            this.source = source;
            this.loop = loop;
            this.zds = zds;
            this.status = status;
            this.extras = extras;
        }

        /** Starts everything in the mode {@code config} selects; on failure, closes what it started. */
        public static Agent start(AgentConfig config) throws IOException {
            AgentConfig.Kube kube = config.kube();
            if (kube == null) {
                return start(
                        config,
                        new LocalFileSource(Objects.requireNonNull(config.localConfig())),
                        PodHooks.NONE,
                        List.of());
            }
            List<AutoCloseable> extras = new ArrayList<>();
            try {
                KubernetesClient client = new KubernetesClientBuilder().build();
                extras.add(client);
                PodNetns hostNetns = PodNetns.open(kube.hostProc().resolve("1/ns/net"));
                extras.add(hostNetns);
                boolean inHost =
                        ProcNetnsFinder.idOf(Path.of("/proc/self/ns/net")).equals(Optional.of(hostNetns.id()));
                HostProbeSnat probes = new HostProbeSnat(
                        inHost ? CommandRunner.host() : CommandRunner.in(hostNetns),
                        config.redirect(),
                        Duration.ofSeconds(10));
                try {
                    probes.install();
                } catch (CommandException e) {
                    throw new IOException("installing the host probe SNAT rules: " + ErrorText.of(e), e);
                }
                EnrollmentPolicy policy = new EnrollmentPolicy(config.excludedNamespaces());
                KubePodSource source = new KubePodSource(
                        client, kube.nodeName(), new ProcNetnsFinder(kube.hostProc()), policy, kube.syncTimeout());
                return start(config, source, new KubePodHooks(client, probes), extras);
            } catch (IOException | RuntimeException e) {
                closeAll(extras);
                throw e;
            }
        }

        /**
         * Starts an agent with the given source and hooks (Kubernetes mode in tests: a mock API server's
         * client); {@code extras} are closed last, on close or failure.
         */
        public static Agent start(AgentConfig config, PodSource source, PodHooks hooks, List<AutoCloseable> extras)
                throws IOException {
            log.atInfo()
                    .setMessage("starting node agent")
                    .addKeyValue("mode", config.kube() == null ? "local" : "kubernetes")
                    .addKeyValue("localConfig", config.localConfig())
                    .addKeyValue(
                            "node", config.kube() == null ? null : config.kube().nodeName())
                    .addKeyValue(
                            "hostProc",
                            config.kube() == null ? null : config.kube().hostProc())
                    .addKeyValue("zdsSocket", config.zdsSocket())
                    .addKeyValue("excludedNamespaces", config.excludedNamespaces())
                    .addKeyValue("dnsCapture", config.redirect().dnsCapture())
                    .addKeyValue("ipv6", config.redirect().ipv6())
                    .addKeyValue("nativeNftables", config.redirect().nativeNftables())
                    .log();
            NodeAgent loop = new NodeAgent(
                    new EnrollmentPolicy(config.excludedNamespaces()),
                    InpodRedirector.create(config.redirect()),
                    config.redirect(),
                    hooks);
            ZdsServer zds = null;
            StatusServer status = null;
            try {
                zds = ZdsServer.start(config.zdsSocket(), loop::zdsSnapshot);
                loop.start(ZdsPort.of(zds));
                source.start(loop::update);
                if (config.readinessPort() != 0) {
                    status = StatusServer.start(new InetSocketAddress(config.readinessPort()), loop);
                }
                return new Agent(source, loop, zds, status, List.copyOf(extras));
            } catch (IOException | RuntimeException e) {
                source.close();
                loop.close();
                if (zds != null) {
                    zds.close();
                }
                if (status != null) {
                    status.close();
                }
                closeAll(extras);
                throw e;
            }
        }

        private static void closeAll(List<AutoCloseable> extras) {
            for (AutoCloseable c : extras.reversed()) {
                try {
                    c.close();
                } catch (Exception e) {
                    log.atWarn()
                            .setMessage("close failed")
                            .addKeyValue("what", c)
                            .setCause(e)
                            .log();
                }
            }
        }

        /** The status server's address, if it runs. */
        public @Nullable InetSocketAddress statusAddress() {
            return status == null ? null : status.address();
        }

        public NodeAgent loop() {
            return loop;
        }

        public ZdsServer zds() {
            return zds;
        }

        /** Stops watching, the ZDS server, the loop (fds closed, rules kept) and the status server. */
        @Override
        public void close() {
            source.close();
            zds.close();
            loop.close();
            if (status != null) {
                status.close();
            }
            closeAll(extras);
        }

        /** For logs. */
        public Map<String, PodStatus> statuses() {
            return loop.statuses();
        }
    }
}
