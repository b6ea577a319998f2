package io.ztunnel.core.telemetry;

import static io.ztunnel.core.state.Fixtures.addr;
import static io.ztunnel.core.state.Fixtures.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.core.proxy.ConnectionRecord;
import io.ztunnel.core.proxy.ConnectionTelemetry;
import io.ztunnel.core.proxy.ConnectionTracker;
import io.ztunnel.core.proxy.Direction;
import io.ztunnel.core.state.Workload;
import io.ztunnel.metrics.SecurityPolicy;
import io.ztunnel.metrics.TrafficLabels;
import org.junit.jupiter.api.Test;

/**
 * The {@code istio_tcp_*} labels of connections as Istio's ztunnel sets them (round-2 facts, section 11): principals
 * by transport, {@code unknown} for what is missing.
 */
class TrafficTelemetryTest {
    private static final Workload CLIENT =
            pod("client", "client-7c9", "10.244.0.9").workloadName("client").build();
    private static final Workload LEGACY = pod("legacy", "legacy-5d8", "10.244.0.8")
            .tunnelProtocol(Workload.TunnelProtocol.NONE)
            .canonicalName("legacy")
            .build();
    private static final Workload SERVER =
            pod("server", "server-5d8", "10.244.0.7").build();

    private static ConnectionRecord.Builder outbound() {
        return ConnectionRecord.builder(Direction.OUTBOUND, "client/client-7c9/client-7c9");
    }

    private static TrafficLabels labels(ConnectionRecord.Builder b) {
        return TrafficTelemetry.labels(b.open(new ConnectionTracker(), ConnectionTelemetry.NONE));
    }

    @Test
    void plaintextToAKnownWorkloadNamesTheDestinationPrincipalButNoSourcePrincipal() {
        TrafficLabels l = labels(outbound()
                .source(addr("10.244.0.9", 40000), CLIENT, null)
                .destination(addr("10.244.0.8", 8080), LEGACY, null, null));
        assertThat(l.destinationPrincipal()).isEqualTo("spiffe://cluster.local/ns/legacy/sa/legacy-5d8");
        assertThat(l.sourcePrincipal()).isEqualTo("unknown");
        assertThat(l.connectionSecurityPolicy()).isEqualTo(SecurityPolicy.UNKNOWN);
        assertThat(l.destinationApp()).isEqualTo("legacy");
    }

    @Test
    void inboundPlaintextNamesTheLocalWorkloadAsDestinationPrincipal() {
        TrafficLabels l = labels(ConnectionRecord.builder(Direction.INBOUND, "server/server-5d8/server-5d8")
                .source(addr("10.244.0.9", 40000), CLIENT, null)
                .destination(addr("10.244.0.7", 8080), SERVER, null, null));
        assertThat(l.destinationPrincipal()).isEqualTo("spiffe://cluster.local/ns/server/sa/server-5d8");
        assertThat(l.sourcePrincipal()).isEqualTo("unknown");
        assertThat(l.connectionSecurityPolicy()).isEqualTo(SecurityPolicy.UNKNOWN);
    }

    @Test
    void hboneNamesBothPrincipalsUnderMutualTls() {
        TrafficLabels l = labels(outbound()
                .source(addr("10.244.0.9", 40000), CLIENT, CLIENT.identity())
                .destination(addr("10.244.0.7", 15008), SERVER, null, SERVER.identity())
                .hboneTarget("10.244.0.7:8080"));
        assertThat(l.sourcePrincipal()).isEqualTo("spiffe://cluster.local/ns/client/sa/client-7c9");
        assertThat(l.destinationPrincipal()).isEqualTo("spiffe://cluster.local/ns/server/sa/server-5d8");
        assertThat(l.connectionSecurityPolicy()).isEqualTo(SecurityPolicy.MUTUAL_TLS);
    }

    @Test
    void passthroughToAnUnknownDestinationIsUnknownThroughout() {
        TrafficLabels l = labels(outbound()
                .source(addr("10.244.0.9", 40000), CLIENT, null)
                .destination(addr("93.184.216.34", 443), null, null, null));
        assertThat(l.destinationPrincipal()).isEqualTo("unknown");
        assertThat(l.destinationWorkload()).isEqualTo("unknown");
        assertThat(l.destinationService()).isEqualTo("unknown");
        assertThat(l.sourceWorkload()).isEqualTo("client");
    }
}
