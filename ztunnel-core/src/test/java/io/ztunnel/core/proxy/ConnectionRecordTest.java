package io.ztunnel.core.proxy;

import static io.ztunnel.core.state.Fixtures.addr;
import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.core.hbone.HboneException;
import io.ztunnel.core.state.Fixtures;
import io.ztunnel.core.state.Workload;
import io.ztunnel.metrics.ResponseFlags;
import java.io.IOException;
import java.net.ConnectException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** A connection record's life as telemetry and the tracker see it, and the one failure → response-flag mapping. */
class ConnectionRecordTest {

    /** Records what one connection's handle was told. */
    private static final class RecordingTelemetry implements ConnectionTelemetry {
        final List<ConnectionRecord> opened = new ArrayList<>();
        final List<ResponseFlags> closed = new ArrayList<>();
        long received;
        long sent;

        @Override
        public Handle opened(ConnectionRecord record) {
            opened.add(record);
            return new Handle() {
                @Override
                public void bytes(long r, long s) {
                    received += r;
                    sent += s;
                }

                @Override
                public void closed(ResponseFlags flag) {
                    closed.add(flag);
                }
            };
        }
    }

    private final ConnectionTracker tracker = new ConnectionTracker();
    private final RecordingTelemetry telemetry = new RecordingTelemetry();
    private final Workload server = Fixtures.pod("ns", "server", "10.0.0.2").build();

    private ConnectionRecord open() {
        return ConnectionRecord.builder(Direction.INBOUND, "ns/server/server")
                .source(addr("10.0.0.1", 40000), null, null)
                .destination(addr("10.0.0.2", 8080), server, null, null)
                .open(tracker, telemetry);
    }

    @Test
    void openingReportsToTelemetryAndRelayingListsTheConnectionUntilItCloses() {
        ConnectionRecord record = open();
        assertThat(telemetry.opened).containsExactly(record);
        assertThat(tracker.size()).as("not listed before the relay runs").isZero();

        record.established(() -> {});
        record.bytes(100, 0);
        record.bytes(0, 40);
        assertThat(tracker.snapshot()).containsExactly(record);
        assertThat(record.received()).isEqualTo(100);
        assertThat(record.sent()).isEqualTo(40);
        assertThat(telemetry.received).isEqualTo(100);
        assertThat(telemetry.sent).isEqualTo(40);

        record.closed(null);
        assertThat(tracker.size()).isZero();
        assertThat(telemetry.closed).containsExactly(ResponseFlags.NONE);
    }

    @Test
    void abortingAProxysConnectionsCompletesOnceEachHasEndedNotWhenAsked() {
        ConnectionRecord first = open();
        ConnectionRecord second = open();
        ConnectionRecord otherPods = ConnectionRecord.builder(Direction.INBOUND, "ns/other/server")
                .source(addr("10.0.0.1", 40001), null, null)
                .destination(addr("10.0.0.3", 8080), server, null, null)
                .open(tracker, telemetry);
        List<ConnectionRecord> asked = new ArrayList<>();
        first.established(() -> asked.add(first)); // the relay closes its sockets later, on its event loop
        second.established(() -> asked.add(second));
        otherPods.established(() -> asked.add(otherPods));

        CompletableFuture<?> ended = tracker.abortOwnedBy("ns/server/server", "pod removed from the mesh");
        assertThat(asked).containsExactlyInAnyOrder(first, second);
        assertThat(ended).as("the sockets are not closed yet").isNotDone();
        first.closed(null);
        assertThat(ended).isNotDone();
        second.closed(new IOException("reset"));
        assertThat(ended).isCompleted();
        assertThat(tracker.snapshot()).containsExactly(otherPods);
        assertThat(tracker.abortOwnedBy("ns/server/server", "again"))
                .as("nothing left to close")
                .isCompleted();
    }

    @Test
    void theEndIsReportedOnceWhateverEndsItFirst() {
        ConnectionRecord record = open();
        record.deny("denied");
        record.closed(new IOException("reset"));
        record.fail(new ConnectException("refused"), "refused");
        assertThat(telemetry.closed).containsExactly(ResponseFlags.DENY);
    }

    @Test
    void anAbortWithAFlagEndsTheConnectionWithThatFlag() {
        ConnectionRecord record = open();
        List<String> aborted = new ArrayList<>();
        record.established(() -> aborted.add("closed"));
        record.abort("connection closed due to policy change", ResponseFlags.DENY);
        assertThat(aborted).containsExactly("closed");
        record.closed(null); // the relay ends as a consequence
        assertThat(telemetry.closed).containsExactly(ResponseFlags.DENY);
    }

    @Test
    void errorsWhileRelayingAreNormalEndsButErrorsBeforeAreConnectFailures() {
        assertThat(ConnectionRecord.responseFlag(null, false)).isEqualTo(ResponseFlags.NONE);
        assertThat(ConnectionRecord.responseFlag(new IOException("reset"), true))
                .isEqualTo(ResponseFlags.NONE);
        assertThat(ConnectionRecord.responseFlag(new ConnectException("refused"), false))
                .isEqualTo(ResponseFlags.CONNECT);
    }

    @Test
    void everyHboneFailureKindMapsToItsResponseFlag() {
        assertThat(flagOf(HboneException.Kind.CONNECT)).isEqualTo(ResponseFlags.CONNECT);
        assertThat(flagOf(HboneException.Kind.HTTP_STATUS)).isEqualTo(ResponseFlags.CONNECT);
        assertThat(flagOf(HboneException.Kind.NO_CERTIFICATE)).isEqualTo(ResponseFlags.CONNECT);
        assertThat(flagOf(HboneException.Kind.NETWORK_POLICY)).isEqualTo(ResponseFlags.NETWORK_POLICY);
        assertThat(flagOf(HboneException.Kind.TLS_FAILURE)).isEqualTo(ResponseFlags.TLS_FAILURE);
        assertThat(flagOf(HboneException.Kind.IDENTITY_ERROR)).isEqualTo(ResponseFlags.IDENTITY_ERROR);
        assertThat(flagOf(HboneException.Kind.H2_HANDSHAKE_FAILURE)).isEqualTo(ResponseFlags.H2_HANDSHAKE_FAILURE);
        assertThat(flagOf(HboneException.Kind.CERT_REVOKED)).isEqualTo(ResponseFlags.CERT_REVOKED);
        // A revocation while relaying is not a normal end: it keeps its flag.
        assertThat(ConnectionRecord.responseFlag(
                        new HboneException(HboneException.Kind.CERT_REVOKED, "revoked", null), true))
                .isEqualTo(ResponseFlags.CERT_REVOKED);
    }

    @Test
    void aFailedHboneDialEndsWithTheFlagOfItsKind() {
        ConnectionRecord record = open();
        record.fail(new HboneException(HboneException.Kind.IDENTITY_ERROR, "wrong identity", null), "wrong identity");
        assertThat(telemetry.closed).containsExactly(ResponseFlags.IDENTITY_ERROR);
    }

    private static ResponseFlags flagOf(HboneException.Kind kind) {
        return ConnectionRecord.responseFlag(new HboneException(kind, "x", null), false);
    }
}
