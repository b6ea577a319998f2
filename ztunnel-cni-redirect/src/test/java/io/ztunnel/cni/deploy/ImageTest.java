package io.ztunnel.cni.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.images.builder.ImageFromDockerfile;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.utility.MountableFile;

/**
 * The image built from the repository's {@code Dockerfile}: both entrypoints start and serve their
 * metrics. Needs a Docker engine; skipped (not failed) where there is none. The image build runs
 * Maven inside, so the first run takes minutes.
 */
@Testcontainers(disabledWithoutDocker = true)
class ImageTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final ImageFromDockerfile IMAGE =
            new ImageFromDockerfile("ztunnel-java-test", false).withDockerfile(ROOT.resolve("Dockerfile"));

    private static String get(GenericContainer<?> c, int port, String path) throws Exception {
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<String> r = http.send(
                    HttpRequest.newBuilder(URI.create("http://" + c.getHost() + ":" + c.getMappedPort(port) + path))
                            .timeout(Duration.ofSeconds(10))
                            .build(),
                    HttpResponse.BodyHandlers.ofString());
            return r.statusCode() + " " + r.body();
        }
    }

    @Test
    void theDaemonEntrypointStartsAsNonRootAndServesIstioMetrics() throws Exception {
        try (GenericContainer<?> daemon = new GenericContainer<>(IMAGE)
                .withEnv("PROXY_MODE", "dedicated")
                .withEnv("PROXY_WORKLOAD_INFO", "default/app/default")
                .withEnv("LOCAL_XDS", "workloads: []")
                .withEnv("XDS_ADDRESS", "")
                .withEnv("CA_ADDRESS", "")
                .withEnv("LOCAL_CA_DIR", "/tmp/ca")
                .withExposedPorts(15020, 15021)
                .waitingFor(Wait.forHttp("/metrics").forPort(15020).withStartupTimeout(Duration.ofMinutes(2)))) {
            daemon.start();
            assertThat(get(daemon, 15020, "/metrics")).startsWith("200 ").contains("istio_build");
            assertThat(daemon.execInContainer("id", "-u").getStdout().strip()).isEqualTo("10001");
            assertThat(daemon.execInContainer("sh", "-c", "command -v iptables nft ipset ip nsenter mvn javac || true")
                            .getStdout())
                    .contains("iptables", "nft", "ipset", "/ip", "nsenter")
                    .doesNotContain("mvn", "javac");
        }
    }

    @Test
    void theNodeAgentEntrypointStartsInLocalModeAndServesItsMetrics() throws Exception {
        try (GenericContainer<?> agent = new GenericContainer<>(IMAGE)
                .withCreateContainerCmdModifier(cmd -> cmd.withEntrypoint("/opt/ztunnel/bin/ztunnel-node-agent")
                        .withUser("0"))
                .withCommand()
                .withCopyToContainer(MountableFile.forClasspathResource("empty-pods.yaml"), "/etc/ztunnel/pods.yaml")
                .withEnv("AGENT_LOCAL_CONFIG", "/etc/ztunnel/pods.yaml")
                .withEnv("INPOD_UDS", "/tmp/ztunnel.sock")
                .withExposedPorts(8000)
                .waitingFor(Wait.forHttp("/readyz").forPort(8000).withStartupTimeout(Duration.ofMinutes(2)))) {
            agent.start();
            assertThat(get(agent, 8000, "/metrics"))
                    .startsWith("200 ")
                    .contains("ztunnel_node_agent_ready 1")
                    .contains("ztunnel_node_agent_pods{state=\"enabled\"} 0");
        }
    }
}
