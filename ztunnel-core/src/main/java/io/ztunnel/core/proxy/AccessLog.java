package io.ztunnel.core.proxy;

import io.ztunnel.core.hbone.Baggage;
import io.ztunnel.core.state.Workload;
import io.ztunnel.core.util.LogValues;
import java.net.InetSocketAddress;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.spi.LoggingEventBuilder;

/**
 * Access log lines on the {@code access} logger, with Istio ztunnel's messages, levels and field order: a DEBUG
 * {@code connection opened} line when a connection's parties are known, one {@code connection complete} line per
 * proxied connection (INFO, or ERROR with {@code error=}), and a WARN {@code connection failed} line with only
 * {@code src.addr dst.addr direction error} for connections refused before they were proxied. Identities are written
 * only for mutual-TLS connections. Addresses are display values (written bare), names and identities text (quoted in
 * the plain format), byte counts numbers; see {@link LogValues}. Stateless.
 */
public final class AccessLog {
    private static final Logger log = LoggerFactory.getLogger("access");

    private AccessLog() {}

    /** The connection's parties are known ({@code connection opened}, DEBUG). */
    static void opened(ConnectionRecord r) {
        if (!log.isDebugEnabled()) {
            return;
        }
        parties(log.atDebug(), r).log("connection opened");
    }

    static void completed(ConnectionRecord r, @Nullable String error) {
        if (!log.isInfoEnabled() && error == null) {
            return;
        }
        LoggingEventBuilder line = parties(error == null ? log.atInfo() : log.atError(), r);
        // From the reporting proxy's side of the application: the metrics count client -> server as "received"
        // for both reporters (Istio's convention), but the log un-flips it for the client side, as ztunnel does, so
        // an outbound line's bytes_sent is what the client sent.
        boolean outbound = r.direction() == Direction.OUTBOUND;
        line = line.addKeyValue("bytes_sent", outbound ? r.received() : r.sent())
                .addKeyValue("bytes_recv", outbound ? r.sent() : r.received())
                .addKeyValue("duration", r.age().toMillis() + "ms");
        if (error != null) {
            line = line.addKeyValue("error", error);
        }
        line.log("connection complete");
    }

    /**
     * The fields the open and complete lines share, in upstream's order: {@code src.addr src.workload src.namespace
     * src.identity src.cluster dst.addr dst.hbone_addr dst.service dst.workload dst.namespace dst.identity dst.cluster
     * direction}; absent values left out.
     */
    private static LoggingEventBuilder parties(LoggingEventBuilder line, ConnectionRecord r) {
        boolean mtls = r.mutualTls();
        line = line.addKeyValue("src.addr", LogValues.address(r.source()));
        Workload src = r.sourceWorkload();
        String srcCluster = null;
        if (src != null) {
            line = workload(line, "src", src);
            srcCluster = src.clusterId();
        } else if (r.sourceBaggage() != null) {
            // A client unknown here (through a network gateway): what its baggage says.
            Baggage bag = r.sourceBaggage();
            line = optional(line, "src.workload", bag.serviceName());
            line = optional(line, "src.namespace", bag.namespace());
            srcCluster = bag.clusterId();
        }
        if (mtls && r.sourceIdentity() != null) {
            line = line.addKeyValue("src.identity", r.sourceIdentity().toString());
        }
        line = optional(line, "src.cluster", srcCluster);
        line = line.addKeyValue("dst.addr", LogValues.address(r.destination()));
        if (r.hboneTarget() != null) {
            line = line.addKeyValue("dst.hbone_addr", LogValues.display(r.hboneTarget()));
        }
        if (r.destinationService() != null) {
            line = line.addKeyValue("dst.service", r.destinationService().hostname());
        }
        Workload dst = r.destinationWorkload();
        String dstCluster = null;
        if (dst != null) {
            line = workload(line, "dst", dst);
            dstCluster = dst.clusterId();
        } else if (r.destinationBaggage() != null) {
            // Double HBONE: the far end described itself in its response baggage.
            Baggage bag = r.destinationBaggage();
            line = optional(line, "dst.workload", bag.workloadName());
            line = optional(line, "dst.namespace", bag.namespace());
            dstCluster = bag.clusterId();
        }
        if (mtls && r.destinationIdentity() != null) {
            line = line.addKeyValue("dst.identity", r.destinationIdentity().toString());
        }
        line = optional(line, "dst.cluster", dstCluster);
        return line.addKeyValue("direction", r.direction().label());
    }

    /**
     * A connection refused or failed before any byte was proxied: WARN {@code connection failed} with exactly
     * {@code src.addr dst.addr direction error}, as upstream (no workloads or identities, no counters).
     */
    public static void failed(
            Direction direction,
            @Nullable InetSocketAddress source,
            @Nullable InetSocketAddress destination,
            String error) {
        log.atWarn()
                .addKeyValue("src.addr", LogValues.address(source))
                .addKeyValue("dst.addr", LogValues.address(destination))
                .addKeyValue("direction", direction.label())
                .addKeyValue("error", error)
                .log("connection failed");
    }

    /** Adds the field only when it has a value (baggage members are optional). */
    private static LoggingEventBuilder optional(LoggingEventBuilder line, String key, @Nullable String value) {
        return value == null || value.isEmpty() ? line : line.addKeyValue(key, value);
    }

    private static LoggingEventBuilder workload(LoggingEventBuilder line, String prefix, Workload w) {
        return line.addKeyValue(prefix + ".workload", w.name()).addKeyValue(prefix + ".namespace", w.namespace());
    }
}
