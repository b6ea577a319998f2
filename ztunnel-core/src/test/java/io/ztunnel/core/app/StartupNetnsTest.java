package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.testing.RequiresNetns;
import io.ztunnel.cni.testing.TestNetns;
import io.ztunnel.core.demo.ManagedProcess;
import io.ztunnel.core.identity.LocalCa;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operator's first minute: the daemon started as its own process (as {@code bin/ztunnel} does) in a network
 * namespace that holds only {@code lo}. A start that fails says why in one line and exits non-zero, without a stack
 * trace; a start that works logs no warning that is not the operator's business.
 */
@RequiresNetns
@Timeout(180)
class StartupNetnsTest {
    @TempDir
    Path dir;

    private TestNetns netns;

    @BeforeEach
    void createNamespace() throws IOException {
        netns = TestNetns.create();
    }

    @AfterEach
    void deleteNamespace() throws IOException {
        netns.close();
    }

    @Test
    void startsWithoutWarningsInANamespaceWithoutHardwareAddresses() throws Exception {
        Path config = dir.resolve("mesh.yaml");
        Files.writeString(config, "workloads: []\n");
        try (ManagedProcess daemon = start(Map.of("LOCAL_XDS_PATH", config.toString()))) {
            awaitOutput(daemon, "ztunnel started");
            assertThat(daemon.output().lines().filter(l -> l.contains("\twarn\t") || l.contains("\terror\t")))
                    .as("warnings and errors in a clean start (Netty must not complain about hardware addresses)")
                    .isEmpty();
        }
    }

    @Test
    void missingConfigFileIsOneLineAndExitStatusOne() throws Exception {
        String output =
                failedStart(Map.of("LOCAL_XDS_PATH", dir.resolve("absent.yaml").toString()));
        assertThat(errorLine(output)).contains("LOCAL_XDS_PATH=").contains("absent.yaml: no such file");
    }

    @Test
    void unreadableConfigFileIsOneLineAndExitStatusOne() throws Exception {
        // Root reads any file whatever its mode; a directory is unreadable as a config for every user.
        String output = failedStart(Map.of("LOCAL_XDS_PATH", dir.toString()));
        assertThat(errorLine(output)).contains("LOCAL_XDS_PATH=" + dir).contains("is a directory");
    }

    @Test
    void invalidConfigFileNamesLineAndField() throws Exception {
        Path config = dir.resolve("mesh.yaml");
        Files.writeString(config, "workloads:\n- colour: blue\n");
        String output = failedStart(Map.of("LOCAL_XDS_PATH", config.toString()));
        assertThat(errorLine(output))
                .contains("LOCAL_XDS_PATH=")
                .contains("line 2")
                .contains("workloads[0].colour");
    }

    @Test
    void unknownVariableValueNamesTheVariable() throws Exception {
        String output = failedStart(Map.of("IPV6_ENABLED", "maybe"));
        assertThat(errorLine(output)).contains("IPV6_ENABLED=maybe").contains("expected true or false");
        assertThat(errorLine(failedStart(Map.of("PROXY_MODE", "sideways")))).contains("PROXY_MODE=sideways");
    }

    @Test
    void portInUseNamesThePort() throws Exception {
        try (PodNetns inside = PodNetns.open(netns.path());
                ServerSocket taken = inside.call(() -> {
                    ServerSocket socket = new ServerSocket();
                    socket.bind(new InetSocketAddress(InetAddress.getByName("::"), 0));
                    return socket;
                })) {
            int port = taken.getLocalPort();
            String output = failedStart(Map.of("STATS_PORT", Integer.toString(port)));
            assertThat(errorLine(output)).contains("port " + port).containsIgnoringCase("address already in use");
        }
    }

    @Test
    void localCaWhoseKeyDoesNotMatchItsCertificateIsOneLineAndExitStatusOne() throws Exception {
        // The local CA loads on a thread of its own beside the rest of the start; unusable CA files must still end
        // the start with the one clear line.
        Path ca = dir.resolve("ca-mismatch");
        Path other = dir.resolve("ca-other");
        LocalCa.loadOrCreate(ca, Clock.systemUTC());
        LocalCa.loadOrCreate(other, Clock.systemUTC());
        Files.copy(other.resolve("ca-key.pem"), ca.resolve("ca-key.pem"), StandardCopyOption.REPLACE_EXISTING);
        String output = failedStart(Map.of("LOCAL_CA_DIR", ca.toString()));
        assertThat(errorLine(output))
                .contains(ca.resolve("ca-key.pem").toString())
                .contains("does not match the public key of");
    }

    @Test
    void inPodModeWithoutCapSysAdminNamesTheCapability() throws Exception {
        // In-pod mode checks its capabilities on a thread of its own while the rest of the start goes on; a failed
        // check must still end the start with the one clear line, before a pod is served. Root without
        // CAP_SYS_ADMIN in its bounding and inheritable sets (setpriv) cannot enter a network namespace.
        Map<String, String> env = new HashMap<>(Map.of(
                "PROXY_MODE", "shared", "INPOD_UDS", dir.resolve("ztunnel.sock").toString()));
        List<String> command =
                new ArrayList<>(List.of("setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin"));
        command.addAll(javaCommand());
        String output = failedStart(env, command);
        assertThat(errorLine(output)).contains("CAP_SYS_ADMIN").contains("cannot enter a network namespace");
    }

    /** Runs a start that must fail; returns its output after checking the exit status and the absence of traces. */
    private String failedStart(Map<String, String> env) throws Exception {
        return failedStart(env, javaCommand());
    }

    private String failedStart(Map<String, String> env, List<String> command) throws Exception {
        try (ManagedProcess daemon = start(env, command)) {
            assertThat(daemon.waitFor(60)).as("the daemon exits").isTrue();
            String output = daemon.output();
            assertThat(daemon.exitCode()).as("exit status; output:\n%s", output).isEqualTo(1);
            assertThat(output.lines())
                    .as("no stack trace")
                    .noneMatch(l -> l.startsWith("\tat ") || l.startsWith("Caused by") || l.contains("Exception"));
            return output;
        }
    }

    /** The one ERROR line of {@code output}. */
    private static String errorLine(String output) {
        List<String> errors =
                output.lines().filter(l -> l.contains("\terror\t")).toList();
        assertThat(errors).as("exactly one error line in:\n%s", output).hasSize(1);
        assertThat(output.lines().filter(l -> l.contains("\twarn\t")))
                .as("no warning besides it")
                .isEmpty();
        return errors.getFirst();
    }

    private ManagedProcess start(Map<String, String> overrides) {
        return start(overrides, javaCommand());
    }

    private ManagedProcess start(Map<String, String> overrides, List<String> command) {
        Map<String, String> env = new HashMap<>(Map.of(
                "PROXY_MODE", "dedicated",
                "PROXY_WORKLOAD_INFO", "default/app/default",
                "LOCAL_CA_DIR", dir.resolve("ca").toString(),
                "XDS_ADDRESS", "",
                "CA_ADDRESS", "",
                "ADMIN_PORT", "0",
                "STATS_PORT", "0",
                "READINESS_PORT", "0"));
        env.putAll(overrides);
        if (!env.containsKey("LOCAL_XDS_PATH")) {
            env.put("LOCAL_XDS", "workloads: []");
        }
        return ManagedProcess.startCommand(
                "ztunnel", netns.name(), command, env, dir.resolve("ztunnel-" + System.nanoTime() + ".log"));
    }

    /** The daemon's JVM with its own logging set-up (LogDefaults), not the test class path's logback-test.xml. */
    private static List<String> javaCommand() {
        return List.of(
                ProcessHandle.current().info().command().orElse("java"),
                "--enable-native-access=ALL-UNNAMED",
                "-Xmx128m",
                "-Dztunnel.log.builtin=true",
                "-cp",
                System.getProperty("java.class.path"),
                Main.class.getName(),
                "proxy",
                "ztunnel");
    }

    private static void awaitOutput(ManagedProcess daemon, String text) throws InterruptedException {
        for (int i = 0; i < 600 && !daemon.output().contains(text); i++) {
            assertThat(daemon.isAlive())
                    .as("daemon alive; output:\n%s", daemon.output())
                    .isTrue();
            Thread.sleep(100);
        }
        assertThat(daemon.output()).contains(text);
    }
}
