package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Traffic to a pod IP whose workload has a waypoint goes to the waypoint, and the client side labels it as upstream
 * does (facts 11.7): {@code destination_*} name the waypoint, {@code destination_service} is {@code unknown} because
 * the traffic was workload-addressed. The waypoint here is daemon B's workload (server-a, 127.0.0.3): its inbound
 * passes the sandwich check because the target's waypoint resolves to it, and hands the stream to its own app.
 */
@Timeout(60)
class WaypointTelemetryMeshTest {
    private static final String TARGET = """
            - uid: Kubernetes//Pod/server/target
              name: target
              namespace: server
              serviceAccount: target
              trustDomain: cluster.local
              workloadIps: ["127.0.0.6"]
              protocol: HBONE
              waypoint: {destination: "/127.0.0.3", hboneMtlsPort: 15008}
              services: {}
            """;

    @TempDir
    Path dir;

    @SuppressWarnings("NullAway.Init") // made by the test; the teardown closes it
    private MeshFixture mesh;

    @AfterEach
    void tearDown() throws Exception {
        if (mesh != null) {
            mesh.close();
        }
    }

    @Test
    void workloadAddressedTrafficThroughAWaypointIsLabelledWithTheWaypoint() throws Exception {
        mesh = new MeshFixture(dir, Map.of());
        String services = "\nservices:\n- name: echo";
        assertThat(MeshFixture.BASE).contains(services);
        mesh.write(MeshFixture.BASE.replace(services, "\n" + TARGET.stripTrailing() + services));

        // The local config is watched; once the target is known, its traffic reaches the waypoint's app.
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            try (Socket s = mesh.connect("127.0.0.6", 8080)) {
                assertThat(MeshFixture.banner(s)).isEqualTo("server-a");
            }
        });

        String metrics = Objects.requireNonNull(mesh.client.metricsAddress()).toString();
        await().atMost(Duration.ofSeconds(10))
                .untilAsserted(() -> assertThat(MeshFixture.get(MeshFixture.metrics(mesh.client), "/metrics")
                                .lines()
                                .filter(l -> l.startsWith("istio_tcp_connections_opened_total{"))
                                .filter(l -> l.contains("reporter=\"source\""))
                                // Attempts made before the config change reached the client went out as passthrough.
                                .filter(l -> l.contains("destination_workload_namespace=\"server\""))
                                .toList())
                        .as("client-side series (metrics at %s)", metrics)
                        .isNotEmpty()
                        .allSatisfy(l -> assertThat(l)
                                .contains("destination_workload=\"server-a\"")
                                .contains("destination_principal=\"spiffe://cluster.local/ns/server/sa/server-a\"")
                                .contains("destination_service=\"unknown\"")
                                .doesNotContain("destination_workload=\"target\"")));
    }
}
