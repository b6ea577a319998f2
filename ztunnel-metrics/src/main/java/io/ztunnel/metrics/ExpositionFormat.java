package io.ztunnel.metrics;

import java.util.List;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * The two exposition formats the scrape endpoint serves, and content negotiation between them.
 *
 * <p>Immutable; safe on any thread.
 */
public enum ExpositionFormat {
    /** Prometheus text format 0.0.4: the default. */
    PROMETHEUS_TEXT("text/plain; version=0.0.4; charset=utf-8"),
    /** OpenMetrics 1.0.0 text: served when the client's {@code Accept} header prefers it. */
    OPENMETRICS("application/openmetrics-text; version=1.0.0; charset=utf-8");

    private static final String OPENMETRICS_TYPE = "application/openmetrics-text";

    private final String contentType;

    ExpositionFormat(String contentType) {
        this.contentType = contentType;
    }

    /** The {@code Content-Type} header value of a response in this format. */
    public String contentType() {
        return contentType;
    }

    /**
     * Picks the format for a request's {@code Accept} header values (an HTTP request may carry
     * several). The media range with the highest {@code q} wins; {@code application/openmetrics-text}
     * (any version) selects OpenMetrics and wins ties, as upstream ztunnel prefers it whenever
     * present; {@code text/plain}, {@code text/*} and {@code *}{@code /*} select the text format.
     * Anything else, or no header, falls back to the text format rather than failing: Prometheus
     * always understands it.
     */
    public static ExpositionFormat negotiate(@Nullable List<String> acceptValues) {
        if (acceptValues == null || acceptValues.isEmpty()) {
            return PROMETHEUS_TEXT;
        }
        double bestOpenMetrics = -1;
        double bestText = -1;
        for (String header : acceptValues) {
            for (String range : header.split(",")) {
                String[] parts = range.split(";");
                String type = parts[0].trim().toLowerCase(Locale.ROOT);
                double q = qValue(parts);
                if (q <= 0) {
                    continue;
                }
                if (type.equals(OPENMETRICS_TYPE)) {
                    bestOpenMetrics = Math.max(bestOpenMetrics, q);
                } else if (type.equals("text/plain") || type.equals("text/*") || type.equals("*/*")) {
                    bestText = Math.max(bestText, q);
                }
            }
        }
        return bestOpenMetrics > 0 && bestOpenMetrics >= bestText ? OPENMETRICS : PROMETHEUS_TEXT;
    }

    private static double qValue(String[] parts) {
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i].trim();
            if (p.length() > 2 && (p.charAt(0) == 'q' || p.charAt(0) == 'Q') && p.charAt(1) == '=') {
                try {
                    double q = Double.parseDouble(p.substring(2).trim());
                    return Double.isNaN(q) ? 0 : Math.min(q, 1.0);
                } catch (NumberFormatException e) {
                    return 1.0; // a malformed weight is treated as absent
                }
            }
        }
        return 1.0;
    }
}
