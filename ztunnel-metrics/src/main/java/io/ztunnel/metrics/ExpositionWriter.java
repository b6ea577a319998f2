package io.ztunnel.metrics;

import java.io.IOException;
import java.io.OutputStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;

/**
 * Writes metric families in Prometheus text 0.0.4 or OpenMetrics 1.0.0 with labels in the order
 * the caller gives them (the Java client libraries sort labels; Istio's dashboards and users'
 * recording rules do not care, but diffs against upstream ztunnel output and humans do).
 *
 * <p>Counters are named by their base name ({@code istio_tcp_connections_opened}); the writer
 * emits the {@code _total} sample name and, as each format requires, {@code _total} on the
 * {@code TYPE}/{@code HELP} lines in text 0.0.4 and the base name there in OpenMetrics.
 *
 * <p>Not thread-safe: one instance per scrape, used by the scraping thread only. It buffers;
 * call {@link #flush()} before anything else writes to the underlying stream. It does not own
 * or close that stream.
 */
final class ExpositionWriter {

    /** The metric types this module emits itself. */
    enum Type {
        COUNTER("counter"),
        GAUGE("gauge"),
        HISTOGRAM("histogram");

        final String text;

        Type(String text) {
            this.text = text;
        }
    }

    private static final byte[] HELP = "# HELP ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] TYPE = "# TYPE ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] TOTAL = "_total".getBytes(StandardCharsets.US_ASCII);

    private final ExpositionFormat format;
    private final OutputStream out;
    private final byte[] buf = new byte[16 * 1024];
    private int pos;

    ExpositionWriter(ExpositionFormat format, OutputStream out) {
        this.format = format;
        this.out = out;
    }

    ExpositionFormat format() {
        return format;
    }

    /** Writes the {@code HELP} and {@code TYPE} lines that open a family. */
    void family(String baseName, Type type, String help) throws IOException {
        boolean suffixed = type == Type.COUNTER && format == ExpositionFormat.PROMETHEUS_TEXT;
        bytes(HELP);
        ascii(baseName);
        if (suffixed) {
            bytes(TOTAL);
        }
        put(' ');
        utf8(escapeHelp(help, format));
        put('\n');
        bytes(TYPE);
        ascii(baseName);
        if (suffixed) {
            bytes(TOTAL);
        }
        put(' ');
        ascii(type.text);
        put('\n');
    }

    /** One sample whose label set was rendered beforehand ({@code {a="b",…}} as UTF-8). */
    void sample(String baseName, Type type, byte[] renderedLabels, long value) throws IOException {
        sampleName(baseName, type);
        bytes(renderedLabels);
        value(value);
    }

    /** One sample without labels. */
    void sample(String baseName, Type type, long value) throws IOException {
        sampleName(baseName, type);
        value(value);
    }

    /** One sample with a single label. */
    void sample(String baseName, Type type, String labelName, String labelValue, long value) throws IOException {
        sampleName(baseName, type);
        put('{');
        ascii(labelName);
        put('=');
        put('"');
        utf8(escapeLabelValue(labelValue));
        put('"');
        put('}');
        value(value);
    }

    /**
     * One histogram series: a {@code _bucket} sample per upper bound (cumulative counts, then {@code +Inf}), then
     * {@code _sum} and {@code _count}. {@code innerLabels} is the series' label set without braces, rendered and
     * escaped beforehand ({@code a="b",c="d"}); {@code le} is appended to it.
     *
     * @param bounds the finite upper bounds, ascending
     * @param cumulative {@code bounds.length + 1} cumulative counts, the last one for {@code +Inf} (= the count)
     */
    void histogram(String baseName, String innerLabels, double[] bounds, long[] cumulative, double sum)
            throws IOException {
        String open = innerLabels.isEmpty() ? "{" : "{" + innerLabels + ",";
        for (int i = 0; i <= bounds.length; i++) {
            ascii(baseName);
            ascii("_bucket");
            utf8(open);
            ascii("le=\"");
            ascii(i < bounds.length ? formatBound(bounds[i]) : "+Inf");
            ascii("\"}");
            value(cumulative[i]);
        }
        String labels = innerLabels.isEmpty() ? "" : "{" + innerLabels + "}";
        ascii(baseName);
        ascii("_sum");
        utf8(labels);
        put(' ');
        ascii(Double.toString(sum));
        put('\n');
        ascii(baseName);
        ascii("_count");
        utf8(labels);
        value(cumulative[bounds.length]);
    }

    /** A bucket bound as a plain decimal ({@code 0.0005}, {@code 1.0}), never in exponent form. */
    static String formatBound(double bound) {
        String plain = BigDecimal.valueOf(bound).stripTrailingZeros().toPlainString();
        return plain.contains(".") ? plain : plain + ".0";
    }

    /** Writes OpenMetrics' terminating {@code # EOF} line; only valid in that format. */
    void eof() throws IOException {
        if (format != ExpositionFormat.OPENMETRICS) {
            throw new IllegalStateException("# EOF belongs to OpenMetrics only");
        }
        ascii("# EOF\n");
    }

    void flush() throws IOException {
        if (pos > 0) {
            out.write(buf, 0, pos);
            pos = 0;
        }
        out.flush();
    }

    private void sampleName(String baseName, Type type) throws IOException {
        ascii(baseName);
        if (type == Type.COUNTER) {
            bytes(TOTAL);
        }
    }

    private void value(long value) throws IOException {
        put(' ');
        ascii(Long.toString(value));
        put('\n');
    }

    private void put(int b) throws IOException {
        if (pos == buf.length) {
            out.write(buf, 0, pos);
            pos = 0;
        }
        buf[pos++] = (byte) b;
    }

    private void bytes(byte[] b) throws IOException {
        if (b.length > buf.length - pos) {
            out.write(buf, 0, pos);
            pos = 0;
            if (b.length > buf.length) {
                out.write(b);
                return;
            }
        }
        System.arraycopy(b, 0, buf, pos, b.length);
        pos += b.length;
    }

    /** Metric names, label names and numbers: ASCII by construction. */
    private void ascii(String s) throws IOException {
        int n = s.length();
        for (int i = 0; i < n; i++) {
            put(s.charAt(i));
        }
    }

    private void utf8(String s) throws IOException {
        bytes(s.getBytes(StandardCharsets.UTF_8));
    }

    /** Escapes a label value for both formats: backslash, double quote and line feed. */
    static String escapeLabelValue(String value) {
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '\\' || c == '"' || c == '\n') {
                StringBuilder sb = new StringBuilder(value.length() + 8);
                escapeLabelValue(sb, value);
                return sb.toString();
            }
        }
        return value;
    }

    /** Appends {@code value} escaped for a label (backslash, double quote, line feed). */
    static void escapeLabelValue(StringBuilder sb, String value) {
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '\\' -> sb.append("\\\\");
                case '"' -> sb.append("\\\"");
                case '\n' -> sb.append("\\n");
                default -> sb.append(c);
            }
        }
    }

    /**
     * Escapes {@code HELP} text: backslash and line feed in text 0.0.4; OpenMetrics escapes double
     * quotes as well.
     */
    static String escapeHelp(String help, ExpositionFormat format) {
        StringBuilder sb = new StringBuilder(help.length() + 8);
        for (int i = 0; i < help.length(); i++) {
            char c = help.charAt(i);
            if (c == '\\') {
                sb.append("\\\\");
            } else if (c == '\n') {
                sb.append("\\n");
            } else if (c == '"' && format == ExpositionFormat.OPENMETRICS) {
                sb.append("\\\"");
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}
