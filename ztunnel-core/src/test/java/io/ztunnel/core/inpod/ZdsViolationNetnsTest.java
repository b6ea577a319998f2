package io.ztunnel.core.inpod;

import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.cni.linux.SeqpacketSocket;
import io.ztunnel.cni.testing.RequiresNetns;
import io.ztunnel.core.app.Main;
import io.ztunnel.core.demo.ManagedProcess;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real daemon process against a hand-written ZDS peer (bytes written by this test, not our encoder): it says hello,
 * acknowledges the snapshot, and exits with status 1 when the peer breaks the protocol, as Istio's ztunnel does.
 */
@RequiresNetns
@Timeout(120)
class ZdsViolationNetnsTest {
    @TempDir
    Path dir;

    @Test
    void aSecondSnapshotSentEndsTheDaemonAfterNackingIt() throws Exception {
        Path socket = dir.resolve("ztunnel.sock");
        try (SeqpacketSocket listener = SeqpacketSocket.listen(socket, 4);
                ManagedProcess daemon = ManagedProcess.start(
                        "ztunnel",
                        null,
                        Main.class.getName(),
                        List.of("proxy", "ztunnel"),
                        Map.of(
                                "PROXY_MODE",
                                "shared",
                                "INPOD_UDS",
                                socket.toString(),
                                "LOCAL_CA_DIR",
                                dir.resolve("ca").toString(),
                                "XDS_ADDRESS",
                                "",
                                "CA_ADDRESS",
                                "",
                                "ADMIN_PORT",
                                "0",
                                "STATS_PORT",
                                "0",
                                "READINESS_PORT",
                                "0"),
                        List.of("-Xmx128m"),
                        dir.resolve("ztunnel.log"));
                SeqpacketSocket peer = listener.accept()) {
            assertThat(hex(peer.receive(Duration.ofSeconds(30))))
                    .as("ZdsHello{version: V1}")
                    .isEqualTo("0801");
            peer.send(HexFormat.of().parseHex("1a00")); // WorkloadRequest{snapshot_sent: {}}
            assertThat(hex(peer.receive(Duration.ofSeconds(10)))).as("ack").isEqualTo("0a00");
            peer.send(HexFormat.of().parseHex("1a00")); // again: a protocol violation
            byte[] nack = peer.receive(Duration.ofSeconds(10)).orElseThrow().data();
            assertThat(nack[0]).as("WorkloadResponse.ack").isEqualTo((byte) 0x0a);
            assertThat(new String(nack, StandardCharsets.UTF_8)).containsIgnoringCase("snapshot");
            assertThat(daemon.waitFor(30)).as("the daemon exits").isTrue();
            assertThat(daemon.exitCode()).isEqualTo(1);
            assertThat(daemon.output()).contains("node agent broke the ZDS protocol");
        }
    }

    private static String hex(Optional<SeqpacketSocket.Message> message) {
        try (SeqpacketSocket.Message m = message.orElseThrow()) {
            return HexFormat.of().formatHex(m.data());
        }
    }
}
