package io.ztunnel.core.architecture;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Style rules the compiler does not enforce, checked on the Java sources of every module (main and test; generated
 * code lives under {@code target} and is not read):
 *
 * <ul>
 *   <li>No inline fully-qualified class names: a type is imported and used by its simple name. The exception is a real
 *       name clash, which the check recognizes: the simple name is also imported from elsewhere, declared in the file,
 *       a type of the file's own package, a {@code java.lang} type, or reached through two different qualified names.
 *   <li>Log messages are constant text: no {@code +} with a non-literal operand, no {@code {}} placeholders and no
 *       format arguments in {@code log(..)}, {@code setMessage(..)} or {@code log.info(..)} and the like; values go in
 *       SLF4J key-values ({@code log.atInfo().addKeyValue("peer", peer).log("connection refused")}).
 * </ul>
 *
 * <p>Comments and string literals are blanked before matching, so neither a Javadoc {@code {@link java.util.List}} nor
 * a message that names a class trips a rule.
 */
class SourceStyleTest {
    /** First segments of the packages our code uses; a lowercase chain starting otherwise is a variable, not a name. */
    private static final Pattern QUALIFIED = Pattern.compile(
            "(?<![\\w.$])((?:java|javax|jdk|sun|com|org|io|net|ch|tools)(?:\\.[a-z_][a-z0-9_]*)+)\\.([A-Z]\\w*)");

    private static final Pattern IMPORT =
            Pattern.compile("^import\\s+(?:static\\s+)?([\\w.]+)\\s*;", Pattern.MULTILINE);
    private static final Pattern PACKAGE = Pattern.compile("^package\\s+([\\w.]+)\\s*;", Pattern.MULTILINE);
    private static final Pattern DECLARED =
            Pattern.compile("\\b(?:class|interface|enum|record)\\s+([A-Z]\\w*)|@interface\\s+([A-Z]\\w*)");

    /**
     * A logging call: {@code .log(}, {@code .setMessage(} (SLF4J's fluent API), or {@code log.info(} and the like on a
     * logger field.
     */
    private static final Pattern LOG_CALL =
            Pattern.compile("\\.(log|setMessage)\\(|\\b(?:log|LOG|logger|LOGGER)\\.(?:trace|debug|info|warn|error)\\(");

    /** What makes a {@code .log(} call SLF4J's rather than, say, {@code Math.log(}: the statement builds an event. */
    private static final Pattern FLUENT = Pattern.compile(
            "\\.at(?:Trace|Debug|Info|Warn|Error|Level)\\(|\\.addKeyValue\\(|\\.setCause\\(|\\.setMessage\\(");

    private static final Pattern CONCATENATION = Pattern.compile("(?<!\\+)\\+(?![+=])");

    private static Path root = Path.of("");
    private static final List<Source> SOURCES = new ArrayList<>();
    /** Every top-level type name per package, from the file names of all modules' sources. */
    private static final Set<String> TYPES = new HashSet<>();

    /** One Java file: its text, and the same with comments and the contents of literals blanked (same offsets). */
    private record Source(Path path, String text, String code) {
        String where(int offset) {
            int line = 1;
            for (int i = 0; i < offset; i++) {
                if (text.charAt(i) == '\n') {
                    line++;
                }
            }
            return root.relativize(path) + ":" + line;
        }
    }

    @BeforeAll
    static void readSources() throws IOException {
        root = repositoryRoot();
        SOURCES.clear();
        TYPES.clear();
        try (Stream<Path> modules = Files.list(root)) {
            for (Path module : modules.filter(m -> m.getFileName().toString().startsWith("ztunnel-"))
                    .sorted()
                    .toList()) {
                for (String set : List.of("src/main/java", "src/test/java")) {
                    Path dir = module.resolve(set);
                    if (!Files.isDirectory(dir)) {
                        continue;
                    }
                    try (Stream<Path> files = Files.walk(dir)) {
                        for (Path file : files.filter(f -> f.toString().endsWith(".java"))
                                .sorted()
                                .toList()) {
                            String text = Files.readString(file, StandardCharsets.UTF_8);
                            SOURCES.add(new Source(file, text, blank(text)));
                            String name = file.getFileName().toString();
                            TYPES.add(
                                    dir.relativize(file.getParent()).toString().replace('/', '.') + "."
                                            + name.substring(0, name.length() - ".java".length()));
                        }
                    }
                }
            }
        }
        assertThat(SOURCES).as("Java sources under %s", root).hasSizeGreaterThan(100);
    }

    @Test
    void noInlineFullyQualifiedNamesExceptRealClashes() {
        List<String> found = new ArrayList<>();
        for (Source s : SOURCES) {
            String code = withoutImportsAndPackage(s.code());
            Set<String> imported = new HashSet<>();
            Matcher imports = IMPORT.matcher(s.text());
            while (imports.find()) {
                imported.add(imports.group(1));
            }
            Matcher pkg = PACKAGE.matcher(s.text());
            String ownPackage = pkg.find() ? pkg.group(1) : "";
            Set<String> declared = new HashSet<>();
            Matcher decl = DECLARED.matcher(s.code());
            while (decl.find()) {
                declared.add(decl.group(1) != null ? decl.group(1) : decl.group(2));
            }
            Set<String> qualifiedNames = new HashSet<>();
            Matcher m = QUALIFIED.matcher(code);
            while (m.find()) {
                qualifiedNames.add(m.group(1) + "." + m.group(2));
            }
            m = QUALIFIED.matcher(code);
            while (m.find()) {
                String qualified = m.group(1) + "." + m.group(2);
                String simple = m.group(2);
                boolean clash = declared.contains(simple)
                        || TYPES.contains(ownPackage + "." + simple) && !qualified.equals(ownPackage + "." + simple)
                        || imported.stream().anyMatch(i -> i.endsWith("." + simple) && !i.equals(qualified))
                        || qualifiedNames.stream().anyMatch(q -> q.endsWith("." + simple) && !q.equals(qualified))
                        || isJavaLang(simple) && !qualified.equals("java.lang." + simple);
                if (!clash) {
                    found.add(s.where(m.start()) + ": " + qualified);
                }
            }
        }
        assertThat(found)
                .as("inline fully-qualified names (import the type; a real clash is recognized and allowed)")
                .isEmpty();
    }

    @Test
    void logMessagesAreConstantTextWithValuesInKeyValues() {
        List<String> found = new ArrayList<>();
        for (Source s : SOURCES) {
            String code = s.code();
            Matcher call = LOG_CALL.matcher(code);
            while (call.find()) {
                boolean fluentLog = "log".equals(call.group(1));
                if (fluentLog
                        && !FLUENT.matcher(statementBefore(code, call.start())).find()) {
                    continue;
                }
                List<int[]> args = arguments(code, call.end() - 1);
                if (args.isEmpty()) {
                    continue;
                }
                int[] first = args.getFirst();
                String message = code.substring(first[0], first[1]);
                String original = s.text().substring(first[0], first[1]);
                List<String> problems = new ArrayList<>();
                if (CONCATENATION.matcher(withoutLiteralConcatenation(message)).find()) {
                    problems.add("built by concatenation");
                }
                if (original.contains("{}")) {
                    problems.add("a {} placeholder");
                }
                if (args.size() > 1 && !"setMessage".equals(call.group(1))) {
                    problems.add("format arguments");
                }
                if (!problems.isEmpty()) {
                    found.add(s.where(call.start()) + ": " + String.join(", ", problems) + ": "
                            + String.join(" ", original.strip().split("\\s+")));
                }
            }
        }
        assertThat(found)
                .as("log messages that are not constant text (put the values in addKeyValue)")
                .isEmpty();
    }

    /** The rule matchers themselves, on known good and bad lines (so that a broken pattern cannot pass everything). */
    @Test
    void theRulesRecognizeWhatTheyAreFor() {
        String bad = """
                class A {
                    void f() {
                        java.util.List<String> a = new java.util.ArrayList<>();
                        log.atInfo().log("peer " + peer);
                        log.atWarn().addKeyValue("k", v).log("peer {}", peer);
                        log.info("x {}", y);
                        log.atWarn().setMessage("failed: " + e).log();
                    }
                }
                """;
        String good = """
                /** See {@link java.util.List}. */
                class B {
                    void f() {
                        List<String> a = new ArrayList<>(); // java.util.ArrayList
                        log.atInfo().addKeyValue("peer", peer).log("connection refused: " + "no route");
                        log.atInfo().setMessage(message).log();
                        String s = "io.ztunnel.core.Foo" + x;
                        double l = Math.log(1 + x);
                        Harness.log("done " + x);
                    }
                }
                """;
        assertThat(countQualified(blank(bad))).isEqualTo(2);
        assertThat(countQualified(blank(good))).isZero();
        assertThat(countLogProblems(bad)).isEqualTo(4);
        assertThat(countLogProblems(good)).isZero();
    }

    private static int countQualified(String code) {
        int n = 0;
        for (Matcher m = QUALIFIED.matcher(code); m.find(); ) {
            n++;
        }
        return n;
    }

    private static int countLogProblems(String text) {
        String code = blank(text);
        int n = 0;
        Matcher call = LOG_CALL.matcher(code);
        while (call.find()) {
            if ("log".equals(call.group(1))
                    && !FLUENT.matcher(statementBefore(code, call.start())).find()) {
                continue;
            }
            List<int[]> args = arguments(code, call.end() - 1);
            if (args.isEmpty()) {
                continue;
            }
            String message = code.substring(args.getFirst()[0], args.getFirst()[1]);
            if (CONCATENATION.matcher(withoutLiteralConcatenation(message)).find()
                    || text.substring(args.getFirst()[0], args.getFirst()[1]).contains("{}")
                    || args.size() > 1 && !"setMessage".equals(call.group(1))) {
                n++;
            }
        }
        return n;
    }

    private static boolean isJavaLang(String simple) {
        try {
            Class.forName("java.lang." + simple, false, SourceStyleTest.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    private static Path repositoryRoot() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("ztunnel-core")) && Files.isRegularFile(p.resolve("pom.xml"))) {
                return p;
            }
        }
        throw new AssertionError("no repository root (a directory with pom.xml and ztunnel-core) above "
                + Path.of("").toAbsolutePath());
    }

    /** The code from the end of the previous statement or block boundary up to {@code end}. */
    private static String statementBefore(String code, int end) {
        int start =
                Math.max(code.lastIndexOf(';', end), Math.max(code.lastIndexOf('{', end), code.lastIndexOf('}', end)));
        return code.substring(start + 1, end);
    }

    /** Offsets of the top-level arguments of the call whose {@code (} is at {@code open}; empty for {@code ()}. */
    private static List<int[]> arguments(String code, int open) {
        List<int[]> args = new ArrayList<>();
        int depth = 0;
        int start = open + 1;
        for (int i = open; i < code.length(); i++) {
            char c = code.charAt(i);
            if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                depth--;
                if (depth == 0) {
                    if (!code.substring(start, i).isBlank()) {
                        args.add(new int[] {start, i});
                    }
                    return args;
                }
            } else if (c == ',' && depth == 1) {
                args.add(new int[] {start, i});
                start = i + 1;
            }
        }
        return args;
    }

    /** Joins adjacent string literals ({@code "a" + "b"}, a long constant text split over lines) into one. */
    private static String withoutLiteralConcatenation(String blanked) {
        String s = blanked.replaceAll("\"\"\"[^\"]*\"\"\"", "\"\"").replaceAll("\"[^\"\\n]*\"", "\"\"");
        String previous;
        do {
            previous = s;
            s = s.replaceAll("\"\"\\s*\\+\\s*\"\"", "\"\"");
        } while (!s.equals(previous));
        return s;
    }

    /** {@code blanked} with its package and import declarations blanked too (same offsets). */
    private static String withoutImportsAndPackage(String blanked) {
        StringBuilder out = new StringBuilder(blanked);
        Matcher m = Pattern.compile("(?m)^(import|package)\\s[^;]*;").matcher(blanked);
        while (m.find()) {
            fill(out, m.start(), m.end(), ' ');
        }
        return out.toString();
    }

    /**
     * {@code text} with comments replaced by spaces and the contents of string, text-block and character literals by
     * {@code x} (quotes and line breaks kept), so offsets and line numbers stay the same.
     */
    static String blank(String text) {
        StringBuilder out = new StringBuilder(text);
        int n = text.length();
        int i = 0;
        while (i < n) {
            if (text.startsWith("//", i)) {
                int end = text.indexOf('\n', i);
                end = end < 0 ? n : end;
                fill(out, i, end, ' ');
                i = end;
            } else if (text.startsWith("/*", i)) {
                int end = text.indexOf("*/", i + 2);
                end = end < 0 ? n : end + 2;
                fill(out, i, end, ' ');
                i = end;
            } else if (text.startsWith("\"\"\"", i)) {
                int end = closingTextBlock(text, i + 3);
                fill(out, i + 3, end - 3, 'x');
                i = end;
            } else if (text.charAt(i) == '"' || text.charAt(i) == '\'') {
                char quote = text.charAt(i);
                int j = i + 1;
                while (j < n && text.charAt(j) != quote && text.charAt(j) != '\n') {
                    j += text.charAt(j) == '\\' ? 2 : 1;
                }
                fill(out, i + 1, Math.min(j, n), 'x');
                i = j + 1;
            } else {
                i++;
            }
        }
        return out.toString();
    }

    private static int closingTextBlock(String text, int from) {
        int j = from;
        while (j < text.length()) {
            if (text.charAt(j) == '\\') {
                j += 2;
            } else if (text.startsWith("\"\"\"", j)) {
                return j + 3;
            } else {
                j++;
            }
        }
        return text.length();
    }

    private static void fill(StringBuilder out, int from, int to, char with) {
        for (int k = from; k < to; k++) {
            if (out.charAt(k) != '\n') {
                out.setCharAt(k, with);
            }
        }
    }
}
