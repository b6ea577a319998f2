package io.ztunnel.metrics;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * A deliberately strict parser for Prometheus text 0.0.4 and OpenMetrics 1.0.0, so the format is
 * checked even where promtool is not installed. It rejects (with the line number) anything the
 * real parsers reject and a few things they merely tolerate: undeclared families, families split
 * or declared twice, duplicate series, unknown escapes, blank lines, stray comments, a missing or
 * misplaced {@code # EOF}. Label order is preserved in the result so tests can check it.
 */
public final class StrictExpositionParser {
    private static final Pattern METRIC_NAME = Pattern.compile("[a-zA-Z_:][a-zA-Z0-9_:]*");
    private static final Pattern LABEL_NAME = Pattern.compile("[a-zA-Z_][a-zA-Z0-9_]*");
    private static final Pattern NUMBER = Pattern.compile("[-+]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][-+]?\\d+)?|[-+]?Inf|NaN");
    private static final Set<String> TEXT_TYPES = Set.of("counter", "gauge", "histogram", "summary", "untyped");
    private static final Set<String> OM_TYPES =
            Set.of("counter", "gauge", "histogram", "gaugehistogram", "stateset", "info", "summary", "unknown");

    /** One sample line. */
    public record Sample(String name, LinkedHashMap<String, String> labels, double value) {
        public String label(String name) {
            String v = labels.get(name);
            if (v == null) {
                throw new AssertionError("no label " + name + " in " + this);
            }
            return v;
        }
    }

    /** One family: its declared name, type, help and samples in order. */
    public record Family(String name, String type, @Nullable String help, List<Sample> samples) {}

    private StrictExpositionParser() {}

    /** Parses a whole exposition; families keyed by declared name, in order of appearance. */
    public static Map<String, Family> parse(String text, ExpositionFormat format) {
        boolean om = format == ExpositionFormat.OPENMETRICS;
        if (!text.endsWith("\n")) {
            throw new IllegalArgumentException("exposition does not end with a line feed");
        }
        String[] lines = text.substring(0, text.length() - 1).split("\n", -1);
        Map<String, Family> families = new LinkedHashMap<>();
        Map<String, String> types = new LinkedHashMap<>();
        Map<String, String> helps = new LinkedHashMap<>();
        Set<String> closed = new HashSet<>();
        Set<String> seriesSeen = new HashSet<>();
        @Nullable String current = null;
        boolean eof = false;
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            int no = i + 1;
            if (eof) {
                throw fail(no, "content after # EOF");
            }
            if (line.isEmpty()) {
                throw fail(no, "blank line");
            }
            if (line.startsWith("#")) {
                if (line.equals("# EOF")) {
                    if (!om) {
                        throw fail(no, "# EOF in text format");
                    }
                    eof = true;
                    continue;
                }
                String[] parts = line.split(" ", 4);
                if (parts.length < 3 || !parts[0].equals("#")) {
                    throw fail(no, "malformed comment: " + line);
                }
                String keyword = parts[1];
                String name = parts[2];
                if (!METRIC_NAME.matcher(name).matches()) {
                    throw fail(no, "bad metric name " + name);
                }
                if (!name.equals(current)) {
                    if (current != null) {
                        closed.add(current);
                    }
                    if (closed.contains(name) || families.containsKey(name)) {
                        throw fail(no, "family " + name + " declared again after other families");
                    }
                    current = name;
                }
                switch (keyword) {
                    case "TYPE" -> {
                        if (parts.length != 4) {
                            throw fail(no, "TYPE without a type");
                        }
                        if (types.containsKey(name)) {
                            throw fail(no, "second TYPE for " + name);
                        }
                        if (!(om ? OM_TYPES : TEXT_TYPES).contains(parts[3])) {
                            throw fail(no, "unknown type " + parts[3]);
                        }
                        if (om && parts[3].equals("counter") && name.endsWith("_total")) {
                            throw fail(no, "OpenMetrics counter family named with _total: " + name);
                        }
                        Family declared = families.get(name);
                        if (declared != null && !declared.samples().isEmpty()) {
                            throw fail(no, "TYPE after samples of " + name);
                        }
                        types.put(name, parts[3]);
                    }
                    case "HELP" -> {
                        if (helps.containsKey(name)) {
                            throw fail(no, "second HELP for " + name);
                        }
                        Family declared = families.get(name);
                        if (declared != null && !declared.samples().isEmpty()) {
                            throw fail(no, "HELP after samples of " + name);
                        }
                        helps.put(name, parts.length == 4 ? unescape(parts[3], om ? "\\\"n" : "\\n", no) : "");
                    }
                    case "UNIT" -> {
                        if (!om) {
                            throw fail(no, "UNIT in text format");
                        }
                    }
                    default -> throw fail(no, "stray comment: " + line);
                }
                Family previous = families.get(name);
                families.put(
                        name,
                        new Family(
                                name,
                                types.getOrDefault(name, "?"),
                                helps.get(name),
                                previous != null ? previous.samples() : new ArrayList<>()));
                continue;
            }
            // A sample.
            String type = current == null ? null : types.get(current);
            Family family = current == null ? null : families.get(current);
            if (current == null || type == null || family == null) {
                throw fail(no, "sample outside a declared family: " + line);
            }
            Sample s = parseSample(line, no);
            if (!allowedSampleName(current, type, s.name(), om)) {
                throw fail(no, "sample " + s.name() + " does not belong to " + type + " family " + current);
            }
            String key = s.name() + new TreeMap<>(s.labels());
            if (!seriesSeen.add(key)) {
                throw fail(no, "duplicate series " + key);
            }
            family.samples().add(s);
        }
        if (om && !eof) {
            throw new IllegalArgumentException("OpenMetrics exposition without # EOF");
        }
        for (Family f : families.values()) {
            if (f.type().equals("?")) {
                throw new IllegalArgumentException("family " + f.name() + " has no TYPE");
            }
        }
        return families;
    }

    private static boolean allowedSampleName(String family, String type, String sample, boolean om) {
        List<String> suffixes = switch (type) {
            case "counter" -> om ? List.of("_total", "_created") : List.of("");
            case "summary" -> List.of("", "_sum", "_count", "_created");
            case "histogram" -> List.of("_bucket", "_sum", "_count", "_created");
            case "gaugehistogram" -> List.of("_gbucket", "_gsum", "_gcount");
            case "info" -> List.of("_info");
            default -> List.of("");
        };
        for (String suffix : suffixes) {
            if (sample.equals(family + suffix)) {
                return true;
            }
        }
        return false;
    }

    private static Sample parseSample(String line, int no) {
        int i = 0;
        while (i < line.length() && line.charAt(i) != '{' && line.charAt(i) != ' ') {
            i++;
        }
        String name = line.substring(0, i);
        if (!METRIC_NAME.matcher(name).matches()) {
            throw fail(no, "bad metric name " + name);
        }
        LinkedHashMap<String, String> labels = new LinkedHashMap<>();
        if (i < line.length() && line.charAt(i) == '{') {
            i++;
            if (i < line.length() && line.charAt(i) == '}') {
                i++;
            } else {
                while (true) {
                    int eq = line.indexOf('=', i);
                    if (eq < 0) {
                        throw fail(no, "label without =");
                    }
                    String labelName = line.substring(i, eq);
                    if (!LABEL_NAME.matcher(labelName).matches()) {
                        throw fail(no, "bad label name '" + labelName + "'");
                    }
                    if (eq + 1 >= line.length() || line.charAt(eq + 1) != '"') {
                        throw fail(no, "label value not quoted");
                    }
                    int j = eq + 2;
                    StringBuilder raw = new StringBuilder();
                    while (true) {
                        if (j >= line.length()) {
                            throw fail(no, "unterminated label value");
                        }
                        char c = line.charAt(j);
                        if (c == '\\') {
                            if (j + 1 >= line.length()) {
                                throw fail(no, "dangling backslash");
                            }
                            raw.append(c).append(line.charAt(j + 1));
                            j += 2;
                        } else if (c == '"') {
                            break;
                        } else {
                            raw.append(c);
                            j++;
                        }
                    }
                    if (labels.put(labelName, unescape(raw.toString(), "\\\"n", no)) != null) {
                        throw fail(no, "label " + labelName + " twice");
                    }
                    i = j + 1;
                    if (i < line.length() && line.charAt(i) == ',') {
                        i++;
                        continue;
                    }
                    if (i < line.length() && line.charAt(i) == '}') {
                        i++;
                        break;
                    }
                    throw fail(no, "expected , or } after label " + labelName);
                }
            }
        }
        if (i >= line.length() || line.charAt(i) != ' ') {
            throw fail(no, "expected a space before the value");
        }
        String[] rest = line.substring(i + 1).split(" ", -1);
        if (rest.length < 1 || rest.length > 2 || !NUMBER.matcher(rest[0]).matches()) {
            throw fail(no, "bad value in: " + line);
        }
        if (rest.length == 2 && !NUMBER.matcher(rest[1]).matches()) {
            throw fail(no, "bad timestamp in: " + line);
        }
        String v = rest[0];
        double value = v.endsWith("Inf")
                ? (v.startsWith("-") ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY)
                : v.equals("NaN") ? Double.NaN : Double.parseDouble(v);
        return new Sample(name, labels, value);
    }

    /** Resolves backslash escapes, allowing only {@code \\}, and those listed in {@code allowed}. */
    private static String unescape(String s, String allowed, int no) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\') {
                out.append(c);
                continue;
            }
            if (i + 1 >= s.length()) {
                throw fail(no, "dangling backslash");
            }
            char e = s.charAt(++i);
            if (allowed.indexOf(e) < 0) {
                throw fail(no, "invalid escape \\" + e);
            }
            out.append(e == 'n' ? '\n' : e);
        }
        return out.toString();
    }

    private static IllegalArgumentException fail(int line, String message) {
        return new IllegalArgumentException("line " + line + ": " + message);
    }

    /** The family called {@code name} in a {@link #parse} result; an assertion error names the ones present. */
    public static Family requireFamily(Map<String, Family> families, String name) {
        Family family = families.get(name);
        if (family == null) {
            throw new AssertionError("no family " + name + " in " + families.keySet());
        }
        return family;
    }
}
