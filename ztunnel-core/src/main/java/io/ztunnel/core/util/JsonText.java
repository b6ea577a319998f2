package io.ztunnel.core.util;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * JSON text as Istio's ztunnel writes it (Rust's serde_json): strings with quotes, backslashes and control characters
 * escaped and everything else as is, and the pretty layout of its admin API (two-space indent, {@code "key": value},
 * one member or element per line, {@code []} and {@code {}} for empty containers, no trailing newline) with the keys
 * of every object in sorted order, at every depth. Values are maps (string keys), collections, strings, numbers,
 * booleans and null; anything else is written as its {@code toString()} string. Stateless.
 */
public final class JsonText {
    private JsonText() {}

    /** {@code value} pretty-printed with sorted keys. */
    public static String pretty(@Nullable Object value) {
        StringBuilder out = new StringBuilder(4096);
        write(value, out, 0);
        return out.toString();
    }

    private static void write(@Nullable Object value, StringBuilder out, int depth) {
        switch (value) {
            case null -> out.append("null");
            case Map<?, ?> map -> {
                if (map.isEmpty()) {
                    out.append("{}");
                    return;
                }
                List<String> keys = new ArrayList<>();
                map.keySet().forEach(k -> keys.add(String.valueOf(k)));
                keys.sort(null);
                Map<String, Object> byText = new HashMap<>();
                map.forEach((k, v) -> byText.put(String.valueOf(k), v));
                out.append('{');
                boolean first = true;
                for (String key : keys) {
                    out.append(first ? "\n" : ",\n");
                    first = false;
                    indent(out, depth + 1);
                    string(key, out);
                    out.append(": ");
                    write(byText.get(key), out, depth + 1);
                }
                out.append('\n');
                indent(out, depth);
                out.append('}');
            }
            case Collection<?> list -> {
                if (list.isEmpty()) {
                    out.append("[]");
                    return;
                }
                out.append('[');
                boolean first = true;
                for (Object item : list) {
                    out.append(first ? "\n" : ",\n");
                    first = false;
                    indent(out, depth + 1);
                    write(item, out, depth + 1);
                }
                out.append('\n');
                indent(out, depth);
                out.append(']');
            }
            case Boolean b -> out.append(b.booleanValue());
            case Double d when d.isNaN() || d.isInfinite() -> out.append("null");
            case Number n -> out.append(n);
            default -> string(value.toString(), out);
        }
    }

    private static void indent(StringBuilder out, int depth) {
        out.repeat("  ", depth);
    }

    /** Appends {@code s} as a JSON string, escaped as serde_json escapes. */
    public static void string(String s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) {
                        out.append("\\u00")
                                .append(Character.forDigit(c >> 4, 16))
                                .append(Character.forDigit(c & 0xf, 16));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
