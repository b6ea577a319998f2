package io.ztunnel.xds.local;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import io.ztunnel.xds.ErrorText;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.error.MarkedYAMLException;

/**
 * A YAML document read into a small tree whose every node remembers its line and column, so
 * that schema errors found later can point at the offending spot.
 *
 * <p>Built from Jackson's streaming YAML parser (no data binding): mappings keep document order
 * and reject duplicate keys, aliases are refused (they would make line numbers ambiguous and
 * upstream's serde schema has no use for them), and only a single document is accepted.
 *
 * <p>Threading: {@link #parse} is a pure function; the nodes are immutable and may be shared.
 */
final class YamlTree {

    private YamlTree() {}

    /** A position in the source text; both numbers are 1-based. */
    record Mark(int line, int column) {
        static final Mark UNKNOWN = new Mark(0, 0);

        static Mark of(@Nullable JsonLocation location) {
            if (location == null || location.getLineNr() <= 0) {
                return UNKNOWN;
            }
            return new Mark(location.getLineNr(), Math.max(1, location.getColumnNr()));
        }
    }

    /** A node of the tree. */
    sealed interface Node permits MapNode, ListNode, ScalarNode {
        Mark mark();

        /** Human-readable kind for error messages ("a mapping", "a list", "the string \"x\""). */
        String describe();
    }

    /** A mapping entry: the key text, where the key is, and the value. */
    record Entry(String key, Mark keyMark, Node value) {}

    /** A YAML mapping with its entries in document order; keys are unique. */
    record MapNode(Mark mark, List<Entry> entries, Map<String, Entry> byKey) implements Node {
        @Override
        public String describe() {
            return "a mapping";
        }
    }

    /** A YAML sequence; {@code tag} is an explicit local tag (e.g. {@code !Presence}) or null. */
    record ListNode(Mark mark, List<Node> items, @Nullable String tag) implements Node {
        @Override
        public String describe() {
            return "a list";
        }
    }

    /** The type YAML (1.2 core schema, as Jackson resolves it) gave a scalar. */
    enum ScalarKind {
        STRING,
        INT,
        FLOAT,
        BOOL,
        NULL
    }

    /**
     * A scalar. {@code text} is the scalar's text (for NULL: the literal text or empty); {@code tag}
     * is an explicit local tag such as {@code !Exact}, or null.
     */
    record ScalarNode(
            Mark mark,
            ScalarKind kind,
            String text,
            @Nullable String tag) implements Node {
        @Override
        public String describe() {
            return switch (kind) {
                case NULL -> "null";
                case BOOL -> "the boolean " + text;
                case INT -> "the integer " + text;
                case FLOAT -> "the number " + text;
                case STRING -> "the string \"" + abbreviate(text) + "\"";
            };
        }
    }

    /** A syntax error or structural problem in the YAML itself (before any schema check). */
    static final class SyntaxException extends Exception {
        private final transient Mark mark;
        private final String reason;

        SyntaxException(Mark mark, String reason) {
            super(reason);
            this.mark = mark;
            this.reason = reason;
        }

        Mark mark() {
            return mark;
        }

        /** What is wrong, without the position. */
        String reason() {
            return reason;
        }
    }

    private static final YAMLFactory FACTORY = newFactory();

    private static YAMLFactory newFactory() {
        LoaderOptions loader = new LoaderOptions();
        // Default is 3 MB of code points; local configs of large meshes can exceed that.
        loader.setCodePointLimit(256 * 1024 * 1024);
        loader.setAllowDuplicateKeys(true); // we report duplicates ourselves, with the key's position
        return YAMLFactory.builder()
                .loaderOptions(loader)
                .streamReadConstraints(
                        StreamReadConstraints.builder().maxNestingDepth(200).build())
                // A plain empty value (`key:`) is null, a quoted one ("") a string: as in YAML 1.2.
                .enable(YAMLParser.Feature.EMPTY_STRING_AS_NULL)
                .build();
    }

    /**
     * Parses one YAML document. Returns null for a document that is empty (no content at all).
     *
     * @throws SyntaxException for malformed YAML, duplicate keys, aliases or several documents
     */
    static @Nullable Node parse(String text) throws SyntaxException {
        try (YAMLParser parser = FACTORY.createParser(text)) {
            JsonToken first = parser.nextToken();
            if (first == null) {
                return null;
            }
            Node root = read(parser, first);
            JsonToken after = parser.nextToken();
            if (after != null) {
                throw new SyntaxException(
                        Mark.of(parser.currentTokenLocation()),
                        "more than one YAML document; the local config must be a single document");
            }
            return root;
        } catch (JsonProcessingException e) {
            throw new SyntaxException(Mark.of(e.getLocation()), "invalid YAML: " + cleanMessage(e));
        } catch (IOException e) {
            throw new SyntaxException(Mark.UNKNOWN, "invalid YAML: " + ErrorText.of(e));
        } catch (RuntimeException e) {
            // SnakeYAML reports some problems (e.g. unreadable characters) as unchecked exceptions.
            throw new SyntaxException(markOf(e), "invalid YAML: " + firstLine(e.getMessage()));
        }
    }

    private static Node read(YAMLParser parser, JsonToken token) throws IOException, SyntaxException {
        Mark mark = Mark.of(parser.currentTokenLocation());
        if (parser.isCurrentAlias()) {
            throw new SyntaxException(mark, "YAML aliases (*" + parser.getText() + ") are not supported");
        }
        String tag = parser.getTypeId();
        return switch (token) {
            case START_OBJECT -> readMap(parser, mark, tag);
            case START_ARRAY -> readList(parser, mark, tag);
            case VALUE_STRING -> scalar(mark, ScalarKind.STRING, parser.getText(), tag);
            case VALUE_NUMBER_INT -> scalar(mark, ScalarKind.INT, parser.getText(), tag);
            case VALUE_NUMBER_FLOAT -> scalar(mark, ScalarKind.FLOAT, parser.getText(), tag);
            case VALUE_TRUE, VALUE_FALSE -> {
                // SnakeYAML resolves YAML 1.1 booleans (yes/no/on/off); upstream's serde_yaml follows
                // YAML 1.2, where only true/false are booleans and the rest are strings.
                String text = parser.getText();
                yield scalar(mark, isYaml12Boolean(text) ? ScalarKind.BOOL : ScalarKind.STRING, text, tag);
            }
            case VALUE_NULL -> scalar(mark, ScalarKind.NULL, nullToEmpty(parser.getText()), tag);
            default -> throw new SyntaxException(mark, "unexpected YAML token " + token);
        };
    }

    private static ScalarNode scalar(Mark mark, ScalarKind kind, String text, @Nullable String tag)
            throws SyntaxException {
        if (tag != null && tag.startsWith("tag:yaml.org,2002:")) {
            // Core-schema tags: honour !!str (forces a string); the others only restate the kind.
            String core = tag.substring("tag:yaml.org,2002:".length());
            if (core.equals("str")) {
                return new ScalarNode(mark, ScalarKind.STRING, text, null);
            }
            return new ScalarNode(mark, kind, text, null);
        }
        return new ScalarNode(mark, kind, text, tag);
    }

    private static MapNode readMap(YAMLParser parser, Mark mark, @Nullable String tag)
            throws IOException, SyntaxException {
        if (localTag(tag) != null) {
            throw new SyntaxException(mark, "YAML tag !" + tag + " is not supported on a mapping");
        }
        List<Entry> entries = new ArrayList<>();
        Map<String, Entry> byKey = new LinkedHashMap<>();
        JsonToken token;
        while ((token = parser.nextToken()) != JsonToken.END_OBJECT) {
            if (token != JsonToken.FIELD_NAME) {
                throw new SyntaxException(Mark.of(parser.currentTokenLocation()), "unexpected YAML token " + token);
            }
            String key = parser.currentName();
            Mark keyMark = Mark.of(parser.currentTokenLocation());
            Node value = read(parser, parser.nextToken());
            Entry entry = new Entry(key, keyMark, value);
            Entry previous = byKey.putIfAbsent(key, entry);
            if (previous != null) {
                throw new SyntaxException(
                        keyMark,
                        "duplicate key \""
                                + abbreviate(key)
                                + "\" (first at line "
                                + previous.keyMark().line()
                                + ")");
            }
            entries.add(entry);
        }
        return new MapNode(mark, Collections.unmodifiableList(entries), Collections.unmodifiableMap(byKey));
    }

    private static ListNode readList(YAMLParser parser, Mark mark, @Nullable String tag)
            throws IOException, SyntaxException {
        List<Node> items = new ArrayList<>();
        JsonToken token;
        while ((token = parser.nextToken()) != JsonToken.END_ARRAY) {
            items.add(read(parser, token));
        }
        return new ListNode(mark, Collections.unmodifiableList(items), localTag(tag));
    }

    private static boolean isYaml12Boolean(String text) {
        return switch (text) {
            case "true", "True", "TRUE", "false", "False", "FALSE" -> true;
            default -> false;
        };
    }

    /** Returns the tag unless it is a YAML core-schema tag (which only restates the kind). */
    private static @Nullable String localTag(@Nullable String tag) {
        return tag == null || tag.startsWith("tag:yaml.org,2002:") ? null : tag;
    }

    private static Mark markOf(RuntimeException e) {
        if (e instanceof MarkedYAMLException marked && marked.getProblemMark() != null) {
            return new Mark(
                    marked.getProblemMark().getLine() + 1,
                    marked.getProblemMark().getColumn() + 1);
        }
        return Mark.UNKNOWN;
    }

    private static String cleanMessage(JsonProcessingException e) {
        // Jackson appends " at [Source: ...; line: x, column: y]"; we print the position ourselves.
        return firstLine(e.getOriginalMessage());
    }

    private static String firstLine(@Nullable String message) {
        if (message == null) {
            return "unreadable input";
        }
        String trimmed = message.strip();
        int newline = trimmed.indexOf('\n');
        return newline < 0 ? trimmed : trimmed.substring(0, newline).strip();
    }

    private static String nullToEmpty(@Nullable String s) {
        return s == null ? "" : s;
    }

    static String abbreviate(String s) {
        String oneLine = s.replace("\n", "\\n");
        return oneLine.length() <= 60 ? oneLine : oneLine.substring(0, 57) + "...";
    }
}
