package io.ztunnel.metrics;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/**
 * The certificate revocation families (label {@code reporter}), as upstream counts them when {@code CRL_PATH} is set:
 *
 * <ul>
 *   <li>{@code istio_crl_policy_rejections_total}: a TLS handshake refused because a CRL revokes the peer's
 *       certificate, and each established connection closed because a reloaded CRL revokes its peer;
 *   <li>{@code istio_crl_untracked_connections_total}: mutual-TLS connections that could not be watched for later
 *       revocation (no peer certificates, or their re-check failed for another reason).
 * </ul>
 *
 * A series appears once it is first counted (families without one are omitted).
 *
 * <p>Thread-safe; recorded from event loops and the CRL watcher, rendered by the scrape. Owned by
 * {@link ZtunnelMetrics}.
 */
public final class CrlMetrics {
    static final String REJECTIONS = "istio_crl_policy_rejections";
    static final String UNTRACKED = "istio_crl_untracked_connections";

    static final List<String> FAMILY_NAMES = List.of(REJECTIONS, UNTRACKED);

    private final LongAdder[] rejections = adders();
    private final LongAdder[] untracked = adders();

    CrlMetrics() {}

    private static LongAdder[] adders() {
        LongAdder[] a = new LongAdder[Reporter.values().length];
        for (int i = 0; i < a.length; i++) {
            a[i] = new LongAdder();
        }
        return a;
    }

    /** A peer refused or disconnected because a CRL revokes its certificate. */
    public void rejected(Reporter reporter) {
        rejections[reporter.ordinal()].increment();
    }

    /** A mutual-TLS connection that cannot be watched for revocation. */
    public void untracked(Reporter reporter) {
        untracked[reporter.ordinal()].increment();
    }

    /** The current value of {@code istio_crl_policy_rejections_total{reporter}}. */
    public long rejections(Reporter reporter) {
        return rejections[reporter.ordinal()].sum();
    }

    /** The current value of {@code istio_crl_untracked_connections_total{reporter}}. */
    public long untrackedConnections(Reporter reporter) {
        return untracked[reporter.ordinal()].sum();
    }

    void writeTo(ExpositionWriter w) throws IOException {
        write(
                w,
                REJECTIONS,
                "The total number of peers refused or disconnected because a CRL revokes their certificate.",
                rejections);
        write(
                w,
                UNTRACKED,
                "The total number of mutual TLS connections not tracked for certificate revocation.",
                untracked);
    }

    private static void write(ExpositionWriter w, String name, String help, LongAdder[] counts) throws IOException {
        boolean any = false;
        for (LongAdder count : counts) {
            any |= count.sum() > 0;
        }
        if (!any) {
            return;
        }
        w.family(name, ExpositionWriter.Type.COUNTER, help);
        for (Reporter r : Reporter.values()) {
            long value = counts[r.ordinal()].sum();
            if (value > 0) {
                w.sample(name, ExpositionWriter.Type.COUNTER, "reporter", r.labelValue(), value);
            }
        }
    }
}
