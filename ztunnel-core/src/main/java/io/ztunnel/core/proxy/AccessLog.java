package io.ztunnel.core.proxy;

import io.ztunnel.core.hbone.Baggage;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.net.Addresses;
import io.ztunnel.core.state.Workload;
import io.ztunnel.core.util.LogValues;
import java.net.InetSocketAddress;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.spi.LoggingEventBuilder;

/**
 * Access log lines on the {@code access} logger, with Istio ztunnel's field names: one {@code connection complete}
 * line per proxied connection (INFO, or ERROR with {@code error=}), and a WARN {@code connection failed} line for
 * connections refused before they were proxied. Addresses are display values (written bare), names and identities
 * text (quoted in the plain format), byte counts numbers; see {@link LogValues}. Stateless.
 */
public final class AccessLog {
    private static final Logger log = LoggerFactory.getLogger("access");

    private AccessLog() {}

    static void completed(ConnectionRecord r, @Nullable String error) {
        LoggingEventBuilder line = error == null ? log.atInfo() : log.atError();
        if (!log.isInfoEnabled() && error == null) {
            return;
        }
        line = line.addKeyValue("src.addr", LogValues.address(r.source()));
        line = workload(line, "src", r.sourceWorkload());
        if (r.sourceWorkload() == null && r.sourceBaggage() != null) {
            // A client unknown here (through a network gateway): what its baggage says.
            Baggage bag = r.sourceBaggage();
            line = optional(line, "src.workload", bag.serviceName());
            line = optional(line, "src.namespace", bag.namespace());
        }
        if (r.sourceIdentity() != null) {
            line = line.addKeyValue("src.identity", r.sourceIdentity().toString());
        }
        line = line.addKeyValue("dst.addr", LogValues.address(r.destination()));
        if (r.hboneTarget() != null) {
            line = line.addKeyValue("dst.hbone_addr", LogValues.display(r.hboneTarget()));
        }
        if (r.destinationService() != null) {
            line = line.addKeyValue("dst.service", r.destinationService().hostname());
        }
        line = workload(line, "dst", r.destinationWorkload());
        if (r.destinationWorkload() == null && r.destinationBaggage() != null) {
            // Double HBONE: the far end described itself in its response baggage.
            Baggage bag = r.destinationBaggage();
            line = optional(line, "dst.workload", bag.workloadName());
            line = optional(line, "dst.namespace", bag.namespace());
        }
        if (r.destinationIdentity() != null) {
            line = line.addKeyValue("dst.identity", r.destinationIdentity().toString());
        }
        // From the reporting proxy's side of the application: the metrics count client -> server as "received"
        // for both reporters (Istio's convention), but the log un-flips it for the client side, as ztunnel does, so
        // an outbound line's bytes_sent is what the client sent.
        boolean outbound = r.direction() == Direction.OUTBOUND;
        line = line.addKeyValue("direction", r.direction().label())
                .addKeyValue("bytes_sent", outbound ? r.received() : r.sent())
                .addKeyValue("bytes_recv", outbound ? r.sent() : r.received())
                .addKeyValue("duration", r.age().toMillis() + "ms");
        if (error != null) {
            line = line.addKeyValue("error", error);
        }
        line.log("connection complete");
    }

    /** A connection refused or failed before any byte was proxied. */
    public static void failed(
            Direction direction,
            @Nullable InetSocketAddress source,
            @Nullable InetSocketAddress destination,
            @Nullable SpiffeId sourceIdentity,
            @Nullable Workload destinationWorkload,
            String error) {
        LoggingEventBuilder line = log.atWarn().addKeyValue("src.addr", LogValues.address(source));
        if (sourceIdentity != null) {
            line = line.addKeyValue("src.identity", sourceIdentity.toString());
        }
        line = line.addKeyValue("dst.addr", LogValues.address(destination));
        line = workload(line, "dst", destinationWorkload);
        line.addKeyValue("direction", direction.label())
                .addKeyValue("error", error)
                .log("connection failed");
    }

    /** Adds the field only when it has a value (baggage members are optional). */
    private static LoggingEventBuilder optional(LoggingEventBuilder line, String key, String value) {
        return value.isEmpty() ? line : line.addKeyValue(key, value);
    }

    private static LoggingEventBuilder workload(LoggingEventBuilder line, String prefix, @Nullable Workload w) {
        if (w == null) {
            return line;
        }
        return line.addKeyValue(prefix + ".workload", w.name()).addKeyValue(prefix + ".namespace", w.namespace());
    }

    private static String address(@Nullable InetSocketAddress a) {
        return a == null ? "" : Addresses.format(a);
    }
}
