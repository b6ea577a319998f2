package io.ztunnel.core.telemetry;

import io.ztunnel.core.hbone.Baggage;
import io.ztunnel.core.proxy.ConnectionRecord;
import io.ztunnel.core.proxy.ConnectionTelemetry;
import io.ztunnel.core.proxy.Direction;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import io.ztunnel.metrics.Reporter;
import io.ztunnel.metrics.ResponseFlags;
import io.ztunnel.metrics.SecurityPolicy;
import io.ztunnel.metrics.TrafficLabels;
import io.ztunnel.metrics.TrafficMetrics;
import io.ztunnel.metrics.TrafficSeries;
import java.util.HashSet;
import java.util.Set;

/**
 * Turns proxied connections into Istio's {@code istio_tcp_*} series: labels from the connection's workloads, service
 * and identities (reporter {@code source} for outbound, {@code destination} for inbound; on inbound, the client's
 * labels come from its workload when known here, else from the {@code baggage} it sent), bytes as they are relayed,
 * and the response flag at close. Series of workloads that leave the mesh are dropped once their connections close.
 *
 * <p>Threading: connection callbacks run on data-plane event loops and only touch the connection's own series;
 * {@link #stateChanged} runs on the control plane.
 */
public final class TrafficTelemetry implements ConnectionTelemetry {
    private final TrafficMetrics metrics;

    public TrafficTelemetry(TrafficMetrics metrics) {
        this.metrics = metrics;
    }

    @Override
    public Handle opened(ConnectionRecord record) {
        Set<String> keys = new HashSet<>(2);
        if (record.sourceWorkload() != null) {
            keys.add(record.sourceWorkload().uid());
        }
        if (record.destinationWorkload() != null) {
            keys.add(record.destinationWorkload().uid());
        }
        return new SeriesHandle(metrics.open(labels(record), keys));
    }

    @Override
    public void socketOpened(Direction listener) {
        metrics.socketOpened(reporter(listener));
    }

    @Override
    public void socketClosed(Direction listener) {
        metrics.socketClosed(reporter(listener));
    }

    private static Reporter reporter(Direction direction) {
        return direction == Direction.INBOUND ? Reporter.DESTINATION : Reporter.SOURCE;
    }

    /** A connection's handle: its series. */
    private record SeriesHandle(TrafficSeries series) implements Handle {
        @Override
        public void bytes(long received, long sent) {
            if (received != 0) {
                series.addReceived(received);
            }
            if (sent != 0) {
                series.addSent(sent);
            }
        }

        @Override
        public void closed(ResponseFlags flag) {
            series.close(flag);
        }
    }

    /** Drops the series of workloads that are gone (after their last connection). */
    public void stateChanged(ProxyState previous, ProxyState next) {
        for (Workload w : previous.workloads()) {
            if (next.workload(w.uid()) == null) {
                metrics.workloadRemoved(w.uid());
            }
        }
    }

    static TrafficLabels labels(ConnectionRecord r) {
        boolean inbound = r.direction() == Direction.INBOUND;
        TrafficLabels.Builder b = TrafficLabels.builder(inbound ? Reporter.DESTINATION : Reporter.SOURCE);
        Workload src = r.sourceWorkload();
        if (src != null) {
            b.sourceWorkload(workloadName(src))
                    .sourceCanonicalService(src.canonicalName())
                    .sourceCanonicalRevision(src.canonicalRevision())
                    .sourceWorkloadNamespace(src.namespace())
                    .sourceApp(src.canonicalName())
                    .sourceVersion(src.canonicalRevision())
                    .sourceCluster(src.clusterId())
                    .sourceRegion(src.locality().region())
                    .sourceZone(src.locality().zone());
        } else if (inbound && r.sourceBaggage() != null) {
            Baggage bag = r.sourceBaggage();
            b.sourceWorkload(bag.workloadName())
                    .sourceCanonicalService(bag.serviceName())
                    .sourceCanonicalRevision(bag.serviceVersion())
                    .sourceWorkloadNamespace(bag.namespace())
                    .sourceApp(bag.workloadName())
                    .sourceVersion(bag.serviceVersion())
                    .sourceCluster(bag.clusterId())
                    .sourceRegion(bag.region())
                    .sourceZone(bag.zone());
        }
        if (r.sourceIdentity() != null) {
            b.sourcePrincipal(r.sourceIdentity().toString());
        }
        Service svc = r.destinationService();
        if (svc != null) {
            b.destinationService(svc.hostname())
                    .destinationServiceNamespace(svc.namespace())
                    .destinationServiceName(svc.name());
        }
        Workload dst = r.destinationWorkload();
        if (dst != null) {
            b.destinationWorkload(workloadName(dst))
                    .destinationCanonicalService(dst.canonicalName())
                    .destinationCanonicalRevision(dst.canonicalRevision())
                    .destinationWorkloadNamespace(dst.namespace())
                    .destinationApp(dst.canonicalName())
                    .destinationVersion(dst.canonicalRevision())
                    .destinationCluster(dst.clusterId())
                    .destinationRegion(dst.locality().region())
                    .destinationZone(dst.locality().zone());
        } else if (!inbound && r.destinationBaggage() != null) {
            // Double HBONE: the destination's labels come from the far end's response baggage.
            Baggage bag = r.destinationBaggage();
            b.destinationWorkload(bag.workloadName())
                    .destinationCanonicalService(bag.serviceName())
                    .destinationCanonicalRevision(bag.serviceVersion())
                    .destinationWorkloadNamespace(bag.namespace())
                    .destinationApp(bag.workloadName())
                    .destinationVersion(bag.serviceVersion())
                    .destinationCluster(bag.clusterId())
                    .destinationRegion(bag.region())
                    .destinationZone(bag.zone());
        }
        boolean mtls = r.mutualTls();
        // As upstream: the destination workload's own identity whenever the workload is known, plaintext included;
        // without one (double HBONE) the identity the far end presented.
        if (dst != null) {
            b.destinationPrincipal(dst.identity().toString());
        } else if (r.destinationIdentity() != null && mtls) {
            b.destinationPrincipal(r.destinationIdentity().toString());
        }
        return b.connectionSecurityPolicy(mtls ? SecurityPolicy.MUTUAL_TLS : SecurityPolicy.UNKNOWN)
                .build();
    }

    private static String workloadName(Workload w) {
        return w.workloadName().isEmpty() ? w.name() : w.workloadName();
    }
}
