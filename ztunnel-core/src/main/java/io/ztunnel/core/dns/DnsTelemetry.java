package io.ztunnel.core.dns;

import io.netty.handler.codec.dns.DnsQuestion;
import io.ztunnel.core.state.Workload;
import io.ztunnel.metrics.DnsMetrics;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The DNS proxy's metrics (upstream's {@code istio_dns_*} families and our dropped-message counter) and its access
 * log: one DEBUG event per lookup on the logger {@code dns}, with upstream's fields {@code src.workload},
 * {@code src.namespace} ({@code unknown} when absent), {@code query}, {@code domain}, {@code result}, {@code endpoints}.
 * Enable it with {@code RUST_LOG=info,dns=debug}.
 *
 * <p>Thread-safe; stateless apart from the metrics it records into.
 */
final class DnsTelemetry {
    private static final Logger accessLog = LoggerFactory.getLogger("dns");

    private final DnsMetrics metrics;

    DnsTelemetry(DnsMetrics metrics) {
        this.metrics = metrics;
    }

    DnsMetrics metrics() {
        return metrics;
    }

    /** The label set of a query from {@code client} (null: unknown). */
    static DnsMetrics.Labels labels(@Nullable Workload client, DnsQuestion question, String protocol) {
        return new DnsMetrics.Labels(
                DnsWire.typeLabel(question.type()),
                protocol,
                client == null ? "" : client.canonicalName(),
                client == null ? "" : client.canonicalRevision());
    }

    /** One access log event (DEBUG, no message). */
    static void access(@Nullable Workload client, DnsQuestion question, String result, int endpoints) {
        if (!accessLog.isDebugEnabled()) {
            return;
        }
        accessLog
                .atDebug()
                .addKeyValue("src.workload", client == null ? "unknown" : client.name())
                .addKeyValue("src.namespace", client == null ? "unknown" : client.namespace())
                .addKeyValue("query", DnsWire.typeName(question.type()))
                .addKeyValue("domain", question.name())
                .addKeyValue("result", result)
                .addKeyValue("endpoints", endpoints)
                .log("");
    }
}
