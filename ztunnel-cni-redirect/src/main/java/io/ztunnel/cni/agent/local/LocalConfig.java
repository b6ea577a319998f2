package io.ztunnel.cni.agent.local;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.ztunnel.cni.ErrorText;
import io.ztunnel.cni.agent.ClusterView;
import io.ztunnel.cni.agent.enrollment.Namespace;
import io.ztunnel.cni.agent.enrollment.Pod;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.UUID;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Parses the node agent's local config file into a {@link ClusterView}. The schema:
 *
 * <pre>{@code
 * namespaces:                       # optional; a namespace not listed has no labels
 *   - name: demo                    # required, unique
 *     labels:                       # optional
 *       istio.io/dataplane-mode: ambient
 * pods:                             # optional
 *   - name: client                  # required
 *     namespace: demo               # required; name + namespace unique
 *     uid: 0b6c...                  # optional, unique; default: a UUID derived from namespace/name,
 *                                   #   so it stays the same across edits and restarts
 *     serviceAccount: sleep         # optional, default "default"
 *     ips: [10.10.0.2, fd00::2]     # optional, IP literals
 *     netns: client                 # required unless hostNetwork: a name under /var/run/netns
 *                                   #   (as `ip netns add` makes) or an absolute path
 *     labels: {}                    # optional
 *     annotations: {}               # optional
 *     hostNetwork: false            # optional, default false
 * }</pre>
 *
 * Unknown fields, duplicate keys, and wrong types are rejected; every error names the line and the
 * field. An empty file is an error too (write {@code pods: []} for "no pods"), so that an editor's
 * truncate-then-write is never mistaken for "remove every pod". Stateless and thread-safe.
 */
public final class LocalConfig {
    /** Where {@code ip netns add NAME} puts namespaces; a bare netns name is resolved here. */
    public static final Path NETNS_DIR = Path.of("/var/run/netns");

    private static final ObjectMapper MAPPER = new ObjectMapper(
                    YAMLFactory.builder().build())
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");

    private LocalConfig() {}

    record NamespaceSpec(@Nullable String name, @Nullable Map<String, String> labels) {}

    record PodSpec(
            @Nullable String name,
            @Nullable String namespace,
            @Nullable String uid,
            @Nullable String serviceAccount,
            @Nullable List<String> ips,
            @Nullable String netns,
            @Nullable Map<String, String> labels,
            @Nullable Map<String, String> annotations,
            @Nullable Boolean hostNetwork) {}

    /** Reads and parses {@code file}. */
    public static ClusterView load(Path file) throws IOException {
        return parse(Files.readString(file, StandardCharsets.UTF_8), file.toString());
    }

    /**
     * Parses {@code yaml}; {@code source} names it in errors.
     *
     * @throws LocalConfigException naming the line and field of the first problem
     */
    public static ClusterView parse(String yaml, String source) throws LocalConfigException {
        List<Namespace> namespaces = new ArrayList<>();
        List<Integer> namespaceLines = new ArrayList<>();
        List<Pod> pods = new ArrayList<>();
        List<Integer> podLines = new ArrayList<>();
        try (JsonParser p = MAPPER.createParser(yaml)) {
            JsonToken t = p.nextToken();
            if (t == null || t == JsonToken.VALUE_NULL) {
                throw new LocalConfigException(
                        source, 0, "", "the file is empty (write \"pods: []\" for a node without pods)");
            }
            if (t != JsonToken.START_OBJECT) {
                throw error(source, p.currentTokenLocation(), "", "must be a mapping with 'namespaces' and 'pods'");
            }
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonLocation at = p.currentTokenLocation();
                p.nextToken();
                switch (field) {
                    case "namespaces" -> {
                        for (Element<NamespaceSpec> e : list(p, yaml, source, "namespaces", NamespaceSpec.class)) {
                            namespaces.add(namespace(e, source));
                            namespaceLines.add(e.line());
                        }
                    }
                    case "pods" -> {
                        for (Element<PodSpec> e : list(p, yaml, source, "pods", PodSpec.class)) {
                            pods.add(pod(e, source));
                            podLines.add(e.line());
                        }
                    }
                    default -> throw error(source, at, field, "unknown field (allowed: namespaces, pods)");
                }
            }
        } catch (LocalConfigException e) {
            throw e;
        } catch (JsonProcessingException e) {
            throw error(source, e.getLocation(), "", brief(e.getOriginalMessage()));
        } catch (IOException e) {
            throw new LocalConfigException(source, 0, "", ErrorText.of(e));
        }
        checkUnique(namespaces, namespaceLines, pods, podLines, source);
        return new ClusterView(namespaces, pods);
    }

    /** One list element, with the line it starts on and its path. */
    private record Element<T>(T value, int line, String path) {}

    private static <T> List<Element<T>> list(JsonParser p, String yaml, String source, String field, Class<T> type)
            throws IOException {
        List<Element<T>> out = new ArrayList<>();
        if (p.currentToken() == JsonToken.VALUE_NULL
                || (p.currentToken() == JsonToken.VALUE_STRING && p.getText().isEmpty())) {
            return out; // "pods:" with nothing after it
        }
        if (p.currentToken() != JsonToken.START_ARRAY) {
            throw error(source, p.currentTokenLocation(), field, "must be a list");
        }
        int index = 0;
        while (p.nextToken() != JsonToken.END_ARRAY) {
            String path = field + "[" + index + "]";
            int line = p.currentTokenLocation().getLineNr();
            if (p.currentToken() != JsonToken.START_OBJECT) {
                throw error(source, p.currentTokenLocation(), path, "must be a mapping");
            }
            try {
                out.add(new Element<>(MAPPER.readValue(p, type), line, path));
            } catch (UnrecognizedPropertyException e) {
                throw new LocalConfigException(
                        source,
                        keyLine(yaml, line, e.getPropertyName(), e.getLocation()),
                        path + "." + e.getPropertyName(),
                        "unknown field (allowed: " + String.join(", ", new TreeSet<>(names(e))) + ")");
            } catch (JsonMappingException e) {
                String key = lastField(e);
                int at = key == null ? lineOf(e.getLocation()) : keyLine(yaml, line, key, e.getLocation());
                throw new LocalConfigException(source, at, path + pathOf(e), brief(e.getOriginalMessage()));
            }
            index++;
        }
        return out;
    }

    private static int lineOf(@Nullable JsonLocation at) {
        return at == null ? 0 : at.getLineNr();
    }

    /**
     * The line of {@code key} in the element starting at {@code fromLine}: Jackson reports where the
     * parser stopped, which for YAML is often the line after the offending key.
     */
    private static int keyLine(String yaml, int fromLine, String key, @Nullable JsonLocation fallback) {
        List<String> lines = yaml.lines().toList();
        Pattern keyPattern = Pattern.compile("(^|[\\s{,-])" + Pattern.quote(key) + "\\s*:");
        int stop = Math.min(lines.size(), Math.max(fromLine, lineOf(fallback)));
        for (int i = Math.max(0, fromLine - 1); i < stop; i++) {
            if (keyPattern.matcher(lines.get(i)).find()) {
                return i + 1;
            }
        }
        return lineOf(fallback);
    }

    private static @Nullable String lastField(JsonMappingException e) {
        String last = null;
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) {
                last = r.getFieldName();
            }
        }
        return last;
    }

    private static List<String> names(UnrecognizedPropertyException e) {
        List<String> out = new ArrayList<>();
        if (e.getKnownPropertyIds() != null) {
            for (Object o : e.getKnownPropertyIds()) {
                out.add(String.valueOf(o));
            }
        }
        return out;
    }

    private static String pathOf(JsonMappingException e) {
        StringBuilder sb = new StringBuilder();
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) {
                sb.append('.').append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                sb.append('[').append(r.getIndex()).append(']');
            }
        }
        return sb.toString();
    }

    /** Jackson's first sentence, without Java type names where a plainer word exists. */
    private static String brief(@Nullable String message) {
        if (message == null) {
            return "invalid";
        }
        String m = message.split("\n", 2)[0];
        int at = m.indexOf(" at [Source");
        if (at > 0) {
            m = m.substring(0, at);
        }
        return m.replace("`java.lang.String`", "a string")
                .replace("`java.util.LinkedHashMap<java.lang.String,java.lang.String>`", "a mapping")
                .replace("`java.util.Map<java.lang.String,java.lang.String>`", "a mapping")
                .replace("`java.util.ArrayList<java.lang.String>`", "a list")
                .replace("`java.util.List<java.lang.String>`", "a list")
                .replace("`java.lang.Boolean`", "true/false")
                .strip();
    }

    private static Namespace namespace(Element<NamespaceSpec> e, String source) throws LocalConfigException {
        NamespaceSpec s = e.value();
        String name = required(s.name(), e, "name", source);
        return new Namespace(name, stringMap(s.labels(), e, "labels", source));
    }

    private static Pod pod(Element<PodSpec> e, String source) throws LocalConfigException {
        PodSpec s = e.value();
        String name = required(s.name(), e, "name", source);
        String ns = required(s.namespace(), e, "namespace", source);
        String uid = s.uid() == null
                ? UUID.nameUUIDFromBytes(("ztunnel-local:" + ns + "/" + name).getBytes(StandardCharsets.UTF_8))
                        .toString()
                : required(s.uid(), e, "uid", source);
        String sa = s.serviceAccount() == null ? "default" : required(s.serviceAccount(), e, "serviceAccount", source);
        boolean hostNetwork = Boolean.TRUE.equals(s.hostNetwork());
        List<InetAddress> ips = new ArrayList<>();
        List<String> rawIps = s.ips() == null ? List.of() : s.ips();
        for (int i = 0; i < rawIps.size(); i++) {
            String ip = rawIps.get(i);
            try {
                String text = ip == null ? "" : ip.strip();
                if (!text.contains(":") && !IPV4.matcher(text).matches()) {
                    throw new IllegalArgumentException("not dotted-quad"); // ofLiteral also takes "10.0.0"
                }
                ips.add(InetAddress.ofLiteral(text));
            } catch (IllegalArgumentException ex) {
                throw new LocalConfigException(
                        source, e.line(), e.path() + ".ips[" + i + "]", "\"" + ip + "\" is not an IP address");
            }
        }
        Optional<Path> netns = Optional.empty();
        if (s.netns() != null && !s.netns().isBlank()) {
            netns = Optional.of(netnsPath(s.netns().strip(), e, source));
        } else if (!hostNetwork) {
            throw new LocalConfigException(
                    source,
                    e.line(),
                    e.path() + ".netns",
                    "required (a name under " + NETNS_DIR + " or an absolute path) unless hostNetwork is true");
        }
        return new Pod(
                uid,
                name,
                ns,
                sa,
                ips,
                stringMap(s.labels(), e, "labels", source),
                stringMap(s.annotations(), e, "annotations", source),
                hostNetwork,
                netns);
    }

    private static Path netnsPath(String value, Element<?> e, String source) throws LocalConfigException {
        if (value.contains("/")) {
            Path p = Path.of(value);
            if (!p.isAbsolute()) {
                throw new LocalConfigException(
                        source,
                        e.line(),
                        e.path() + ".netns",
                        "\"" + value + "\" must be a bare name or an absolute path");
            }
            return p.normalize();
        }
        if (value.equals(".") || value.equals("..")) {
            throw new LocalConfigException(source, e.line(), e.path() + ".netns", "\"" + value + "\" is not a name");
        }
        return NETNS_DIR.resolve(value);
    }

    private static String required(@Nullable String value, Element<?> e, String field, String source)
            throws LocalConfigException {
        if (value == null || value.isBlank()) {
            throw new LocalConfigException(source, e.line(), e.path() + "." + field, "required, must not be empty");
        }
        return value.strip();
    }

    private static Map<String, String> stringMap(
            @Nullable Map<String, String> m, Element<?> e, String field, String source) throws LocalConfigException {
        if (m == null) {
            return Map.of();
        }
        for (Map.Entry<String, String> entry : m.entrySet()) {
            if (entry.getValue() == null) {
                throw new LocalConfigException(
                        source,
                        e.line(),
                        e.path() + "." + field + "." + entry.getKey(),
                        "needs a value (use \"\" for empty)");
            }
        }
        return Map.copyOf(m);
    }

    private static void checkUnique(
            List<Namespace> namespaces,
            List<Integer> namespaceLines,
            List<Pod> pods,
            List<Integer> podLines,
            String source)
            throws LocalConfigException {
        Map<String, Integer> nsSeen = new HashMap<>();
        for (int i = 0; i < namespaces.size(); i++) {
            Integer before = nsSeen.putIfAbsent(namespaces.get(i).name(), i);
            if (before != null) {
                throw new LocalConfigException(
                        source,
                        namespaceLines.get(i),
                        "namespaces[" + i + "].name",
                        "\"" + namespaces.get(i).name() + "\" is already namespaces[" + before + "]");
            }
        }
        Map<String, Integer> keys = new HashMap<>();
        Map<String, Integer> uids = new HashMap<>();
        for (int i = 0; i < pods.size(); i++) {
            Pod p = pods.get(i);
            Integer before = keys.putIfAbsent(p.key(), i);
            if (before != null) {
                throw new LocalConfigException(
                        source,
                        podLines.get(i),
                        "pods[" + i + "]",
                        "pod " + p.key() + " is already pods[" + before + "]");
            }
            before = uids.putIfAbsent(p.uid(), i);
            if (before != null) {
                throw new LocalConfigException(
                        source,
                        podLines.get(i),
                        "pods[" + i + "].uid",
                        "uid " + p.uid() + " is already used by pods[" + before + "]");
            }
        }
    }

    private static LocalConfigException error(String source, @Nullable JsonLocation at, String field, String problem) {
        return new LocalConfigException(source, at == null ? 0 : at.getLineNr(), field, problem);
    }
}
