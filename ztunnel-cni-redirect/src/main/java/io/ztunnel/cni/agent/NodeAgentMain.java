package io.ztunnel.cni.agent;

import io.ztunnel.cni.agent.enrollment.EnrollmentPolicy;
import io.ztunnel.cni.agent.local.LocalFileSource;
import io.ztunnel.cni.rules.InpodRedirector;
import io.ztunnel.cni.zds.ZdsServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent process (local mode): reads {@link AgentConfig} from the environment, serves ZDS
 * on {@code INPOD_UDS}, enrolls the pods of the {@code AGENT_LOCAL_CONFIG} file and follows its
 * edits, and serves {@code /readyz} and {@code /status}. On SIGTERM (or SIGINT) it stops watching,
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
      System.err.println("ztunnel node agent: " + e.getMessage());
      System.exit(2);
      return;
    }
    Agent agent;
    try {
      agent = Agent.start(config);
    } catch (IOException e) {
      log.atError().setMessage("node agent failed to start").setCause(e).log();
      System.err.println("ztunnel node agent: " + e.getMessage());
      System.exit(1);
      return;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            Thread.ofPlatform()
                .name("cni-agent-shutdown")
                .unstarted(
                    () -> {
                      log.atInfo().setMessage("shutting down; in-pod rules stay in place").log();
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
    private final LocalFileSource source;
    private final NodeAgent loop;
    private final ZdsServer zds;
    private final @Nullable StatusServer status;

    private Agent(
        LocalFileSource source, NodeAgent loop, ZdsServer zds, @Nullable StatusServer status) {
      this.source = source;
      this.loop = loop;
      this.zds = zds;
      this.status = status;
    }

    /** Starts everything; on failure, whatever was started is closed again. */
    public static Agent start(AgentConfig config) throws IOException {
      log.atInfo()
          .setMessage("starting node agent")
          .addKeyValue("localConfig", config.localConfig())
          .addKeyValue("zdsSocket", config.zdsSocket())
          .addKeyValue("excludedNamespaces", config.excludedNamespaces())
          .addKeyValue("dnsCapture", config.redirect().dnsCapture())
          .addKeyValue("ipv6", config.redirect().ipv6())
          .addKeyValue("nativeNftables", config.redirect().nativeNftables())
          .log();
      NodeAgent loop =
          new NodeAgent(
              new EnrollmentPolicy(config.excludedNamespaces()),
              InpodRedirector.create(config.redirect()),
              config.redirect());
      LocalFileSource source = new LocalFileSource(config.localConfig());
      ZdsServer zds = null;
      StatusServer status = null;
      try {
        zds = ZdsServer.start(config.zdsSocket(), loop::zdsSnapshot);
        loop.start(ZdsPort.of(zds));
        source.start(loop::update);
        if (config.readinessPort() != 0) {
          status = StatusServer.start(new InetSocketAddress(config.readinessPort()), loop);
        }
        return new Agent(source, loop, zds, status);
      } catch (IOException | RuntimeException e) {
        source.close();
        loop.close();
        if (zds != null) {
          zds.close();
        }
        if (status != null) {
          status.close();
        }
        throw e;
      }
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
    }

    /** For logs. */
    public Map<String, PodStatus> statuses() {
      return loop.statuses();
    }
  }
}
