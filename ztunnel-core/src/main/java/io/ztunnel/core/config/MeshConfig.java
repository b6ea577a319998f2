package io.ztunnel.core.config;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.ztunnel.core.util.Errors;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * The few ProxyConfig fields Istio's ztunnel honours, from the mesh config file's {@code defaultConfig} (mounted at
 * {@code ./etc/istio/config/mesh}) overlaid by the {@code PROXY_CONFIG} environment variable (a ProxyConfig in YAML or
 * JSON): {@code discoveryAddress}, {@code proxyAdminPort}, {@code statsPort}, {@code concurrency} and
 * {@code proxyMetadata} (a key's {@code ISTIO_META_} prefix is dropped, as upstream does). Every other ProxyConfig field is ignored, as upstream does; a known field of the wrong type is
 * an error naming the source and the field. Environment variables win over these values (see {@link Config#from}).
 *
 * <p>Immutable; parsed once at start.
 */
public record MeshConfig(
        @Nullable String discoveryAddress,
        @Nullable Integer proxyAdminPort,
        @Nullable Integer statsPort,
        @Nullable Integer concurrency,
        Map<String, String> proxyMetadata) {

    /** Where Istio mounts the mesh config in the ztunnel pod (relative to the working directory, {@code /}). */
    public static final Path DEFAULT_FILE = Path.of("./etc/istio/config/mesh");

    public static final MeshConfig EMPTY = new MeshConfig(null, null, null, null, Map.of());

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    public MeshConfig {
        proxyMetadata = Map.copyOf(proxyMetadata);
    }

    /** The file's {@code defaultConfig} (absent file: nothing), then {@code proxyConfigEnv} over it. */
    public static MeshConfig load(Path meshFile, @Nullable String proxyConfigEnv) {
        MeshConfig result = EMPTY;
        String text;
        try {
            text = Files.readString(meshFile, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            text = null;
        } catch (IOException e) {
            throw new ConfigException("mesh config " + meshFile + ": cannot read: " + Errors.message(e));
        }
        if (text != null) {
            JsonNode mesh = parse(text, "mesh config " + meshFile);
            JsonNode defaults = mesh.path("defaultConfig");
            if (!defaults.isMissingNode() && !defaults.isNull()) {
                result = result.overlay(defaults, "mesh config " + meshFile + ": defaultConfig");
            }
        }
        if (proxyConfigEnv != null && !proxyConfigEnv.isBlank()) {
            result = result.overlay(parse(proxyConfigEnv, "PROXY_CONFIG"), "PROXY_CONFIG");
        }
        return result;
    }

    private static JsonNode parse(String text, String source) {
        try {
            JsonNode node = YAML.readTree(text);
            if (node == null || node.isMissingNode() || node.isNull()) {
                return YAML.createObjectNode();
            }
            if (!node.isObject()) {
                throw new ConfigException(source + ": expected a mapping, got " + node.getNodeType());
            }
            return node;
        } catch (JacksonException e) {
            throw new ConfigException(source + ": not valid YAML: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new ConfigException(source + ": cannot parse: " + Errors.message(e));
        }
    }

    /** This config with the fields present in {@code pc} replaced; metadata keys are merged, {@code pc} winning. */
    private MeshConfig overlay(JsonNode pc, String source) {
        if (!pc.isObject()) {
            throw new ConfigException(source + ": expected a mapping");
        }
        Map<String, String> metadata = new LinkedHashMap<>(proxyMetadata);
        JsonNode md = pc.path("proxyMetadata");
        if (!md.isMissingNode() && !md.isNull()) {
            if (!md.isObject()) {
                throw new ConfigException(source + ".proxyMetadata: expected a mapping of strings");
            }
            for (Map.Entry<String, JsonNode> e : md.properties()) {
                if (!e.getValue().isValueNode() || e.getValue().isNull()) {
                    throw new ConfigException(source + ".proxyMetadata." + e.getKey() + ": expected a string");
                }
                // As upstream: a key written like the environment variable loses its ISTIO_META_ prefix.
                String key = e.getKey().startsWith("ISTIO_META_") && e.getKey().length() > "ISTIO_META_".length()
                        ? e.getKey().substring("ISTIO_META_".length())
                        : e.getKey();
                metadata.put(key, e.getValue().asText());
            }
        }
        return new MeshConfig(
                text(pc, "discoveryAddress", source, discoveryAddress),
                port(pc, "proxyAdminPort", source, proxyAdminPort),
                port(pc, "statsPort", source, statsPort),
                integer(pc, "concurrency", source, concurrency, 0, 4096),
                metadata);
    }

    private static @Nullable String text(JsonNode pc, String field, String source, @Nullable String current) {
        JsonNode v = pc.path(field);
        if (v.isMissingNode() || v.isNull()) {
            return current;
        }
        if (!v.isTextual()) {
            throw new ConfigException(source + "." + field + ": expected a string, got " + v.getNodeType());
        }
        return v.asText();
    }

    private static @Nullable Integer port(JsonNode pc, String field, String source, @Nullable Integer current) {
        return integer(pc, field, source, current, 0, 65535);
    }

    private static @Nullable Integer integer(
            JsonNode pc, String field, String source, @Nullable Integer current, int min, int max) {
        JsonNode v = pc.path(field);
        if (v.isMissingNode() || v.isNull()) {
            return current;
        }
        // ProxyConfig's wrapper types may arrive as numbers or as numeric strings.
        int value;
        if (v.isIntegralNumber() && v.canConvertToInt()) {
            value = v.intValue();
        } else if (v.isTextual() && v.asText().strip().matches("\\d{1,9}")) {
            value = Integer.parseInt(v.asText().strip());
        } else {
            throw new ConfigException(source + "." + field + "=" + v + ": expected an integer");
        }
        if (value < min || value > max) {
            throw new ConfigException(source + "." + field + "=" + value + ": expected " + min + ".." + max);
        }
        return value;
    }
}
