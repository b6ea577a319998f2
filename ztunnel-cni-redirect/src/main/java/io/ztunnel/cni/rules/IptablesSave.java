package io.ztunnel.cni.rules;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Reads {@code iptables-save} output, and puts rules into a canonical form so that a rule as we
 * write it and the same rule as {@code iptables-save} prints it compare equal ({@code -s
 * 169.254.7.127} vs {@code -s 169.254.7.127/32}; the implicit {@code -m tcp}; {@code --to-port} vs
 * {@code --to-ports}; IPv6 address spelling; the fixed order of the IP header options). Pure; no
 * I/O.
 */
final class IptablesSave {
    private IptablesSave() {}

    /** A rule as listed: its chain and its spec (the text after {@code -A CHAIN}). */
    record Rule(String chain, String spec) {}

    /** One table of the listing: every chain declared and every rule, in listing order. */
    record Table(String name, Set<String> chains, List<Rule> rules) {}

    /**
     * Parses a whole listing into tables by name. Comments, counters and {@code COMMIT} lines are
     * skipped; a rule outside a table is an error.
     */
    static Map<String, Table> parse(String listing) {
        Map<String, Table> tables = new LinkedHashMap<>();
        @Nullable Table current = null;
        int lineNo = 0;
        for (String raw : listing.split("\n")) {
            lineNo++;
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#") || line.equals("COMMIT")) {
                continue;
            }
            if (line.startsWith("*")) {
                String name = line.substring(1).strip();
                current = tables.computeIfAbsent(name, n -> new Table(n, new LinkedHashSet<>(), new ArrayList<>()));
                continue;
            }
            if (current == null) {
                throw new IllegalArgumentException("iptables-save line " + lineNo + " is outside any table: " + line);
            }
            if (line.startsWith(":")) {
                int space = line.indexOf(' ');
                current.chains().add(space < 0 ? line.substring(1) : line.substring(1, space));
            } else if (line.startsWith("-A ")) {
                String rest = line.substring(3);
                int space = rest.indexOf(' ');
                String chain = space < 0 ? rest : rest.substring(0, space);
                String spec = space < 0 ? "" : rest.substring(space + 1).strip();
                current.rules().add(new Rule(chain, spec));
            }
        }
        return tables;
    }

    /** The chain a rule jumps or goes to ({@code -j X}, {@code -g X}), or "" if none. */
    static String target(String spec) {
        List<String> tokens = tokenize(spec);
        for (int i = 0; i + 1 < tokens.size(); i++) {
            String t = tokens.get(i);
            if (t.equals("-j") || t.equals("--jump") || t.equals("-g") || t.equals("--goto")) {
                return tokens.get(i + 1);
            }
        }
        return "";
    }

    /** The IP header options, in the order iptables-save prints them. */
    private enum Header {
        SOURCE("-s"),
        DESTINATION("-d"),
        IN("-i"),
        OUT("-o"),
        PROTOCOL("-p");

        final String flag;

        Header(String flag) {
            this.flag = flag;
        }
    }

    private static @Nullable Header header(String option) {
        return switch (option) {
            case "-s", "--source", "--src" -> Header.SOURCE;
            case "-d", "--destination", "--dst" -> Header.DESTINATION;
            case "-i", "--in-interface" -> Header.IN;
            case "-o", "--out-interface" -> Header.OUT;
            case "-p", "--protocol" -> Header.PROTOCOL;
            default -> null;
        };
    }

    /**
     * The canonical text of a rule spec: IP header options first in iptables-save's fixed order (with
     * addresses as prefixes in canonical spelling), then the matches and the target in their own
     * order, without the {@code -m tcp}/{@code -m udp} that {@code --dport}/{@code --sport} imply,
     * and with {@code --to-port} spelled {@code --to-ports}.
     */
    static String canonical(String spec) {
        List<String> tokens = tokenize(spec);
        Map<Header, String> headers = new EnumMap<>(Header.class);
        List<String> rest = new ArrayList<>();
        for (int i = 0; i < tokens.size(); i++) {
            String t = tokens.get(i);
            boolean negated = false;
            if (t.equals("!") && i + 1 < tokens.size() && header(tokens.get(i + 1)) != null) {
                negated = true;
                t = tokens.get(++i);
            }
            Header h = header(t);
            if (h != null && i + 1 < tokens.size()) {
                String value = tokens.get(++i);
                if (h == Header.SOURCE || h == Header.DESTINATION) {
                    value = Addresses.canonicalPrefix(value);
                }
                headers.put(h, (negated ? "! " : "") + h.flag + " " + value);
                continue;
            }
            if (t.equals("-m")
                    && i + 1 < tokens.size()
                    && (tokens.get(i + 1).equals("tcp") || tokens.get(i + 1).equals("udp"))) {
                i++;
                continue;
            }
            rest.add(t.equals("--to-port") ? "--to-ports" : t);
        }
        StringBuilder sb = new StringBuilder();
        for (String h : headers.values()) {
            sb.append(h).append(' ');
        }
        sb.append(String.join(" ", rest));
        return sb.toString().strip();
    }

    /** Splits on whitespace, keeping double-quoted strings (comments) as one token. */
    static List<String> tokenize(String spec) {
        List<String> tokens = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false;
        boolean any = false;
        for (int i = 0; i < spec.length(); i++) {
            char c = spec.charAt(i);
            if (c == '"') {
                quoted = !quoted;
                cur.append(c);
                any = true;
            } else if (c == '\\' && quoted && i + 1 < spec.length()) {
                cur.append(c).append(spec.charAt(++i));
            } else if (Character.isWhitespace(c) && !quoted) {
                if (any) {
                    tokens.add(cur.toString());
                    cur.setLength(0);
                    any = false;
                }
            } else {
                cur.append(c);
                any = true;
            }
        }
        if (any) {
            tokens.add(cur.toString());
        }
        return tokens;
    }
}
