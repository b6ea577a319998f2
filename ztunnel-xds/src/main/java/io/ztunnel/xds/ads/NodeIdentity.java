package io.ztunnel.xds.ads;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.ListValue;
import com.google.protobuf.NullValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.ztunnel.xds.proto.envoy.core.Node;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who this ztunnel is, as told to istiod in the xDS {@code Node} of the first request of each
 * type. istiod keys its workload (WDS) generator on the {@code ztunnel~} node id.
 *
 * <ul>
 *   <li>{@code id}: {@code ztunnel~<INSTANCE_IP>~<POD_NAME>.<POD_NAMESPACE>~<POD_NAMESPACE>.svc.cluster.local}
 *       ({@code 1.1.1.1} when the IP is unknown; the domain is fixed, as upstream).
 *   <li>{@code metadata}: {@code NAME}, {@code NAMESPACE}, {@code INSTANCE_IPS}, {@code
 *       NODE_NAME}; then every proxy metadata entry as a string ({@code ISTIO_META_*} with the
 *       prefix removed, e.g. {@code CLUSTER_ID}, plus mesh config {@code proxyMetadata}); then
 *       every {@code ISTIO_METAJSON_*} entry parsed as JSON. Later entries win, as upstream.
 * </ul>
 *
 * @param instanceIp {@code INSTANCE_IP}; null or empty means unknown
 * @param podName {@code POD_NAME}
 * @param podNamespace {@code POD_NAMESPACE}
 * @param nodeName {@code NODE_NAME}
 * @param proxyMetadata {@code ISTIO_META_*} (prefix removed) and mesh-config proxy metadata
 * @param jsonMetadata {@code ISTIO_METAJSON_*} (prefix removed) to raw JSON text; values that are
 *     not valid JSON are logged and skipped, as upstream does
 */
public record NodeIdentity(
        String instanceIp,
        String podName,
        String podNamespace,
        String nodeName,
        Map<String, String> proxyMetadata,
        Map<String, String> jsonMetadata) {
    private static final Logger log = LoggerFactory.getLogger(NodeIdentity.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Used in the node id when {@code INSTANCE_IP} is unset. */
    public static final String DEFAULT_IP = "1.1.1.1";

    /** Unset variables may be passed as null: the IP then becomes {@link #DEFAULT_IP}, the names empty. */
    public NodeIdentity(
            @Nullable String instanceIp,
            @Nullable String podName,
            @Nullable String podNamespace,
            @Nullable String nodeName,
            Map<String, String> proxyMetadata,
            Map<String, String> jsonMetadata) {
        this.instanceIp = instanceIp == null || instanceIp.isEmpty() ? DEFAULT_IP : instanceIp;
        this.podName = Objects.requireNonNullElse(podName, "");
        this.podNamespace = Objects.requireNonNullElse(podNamespace, "");
        this.nodeName = Objects.requireNonNullElse(nodeName, "");
        this.proxyMetadata = Map.copyOf(proxyMetadata);
        this.jsonMetadata = Map.copyOf(jsonMetadata);
    }

    /** The node id string. */
    public String id() {
        return "ztunnel~" + instanceIp + "~" + podName + "." + podNamespace + "~" + podNamespace + ".svc.cluster.local";
    }

    /** The Envoy {@code Node} message sent in initial requests. */
    public Node toNode() {
        // Sorted for a deterministic encoding (upstream uses an ordered map as well).
        Map<String, Value> fields = new TreeMap<>();
        fields.put("NAME", string(podName));
        fields.put("NAMESPACE", string(podNamespace));
        fields.put("INSTANCE_IPS", string(instanceIp));
        fields.put("NODE_NAME", string(nodeName));
        proxyMetadata.forEach((k, v) -> fields.put(k, string(v)));
        new TreeMap<>(jsonMetadata).forEach((k, v) -> {
            try {
                fields.put(k, toValue(JSON.readTree(v)));
            } catch (JsonProcessingException e) {
                log.atError()
                        .addKeyValue("variable", "ISTIO_METAJSON_" + k)
                        .addKeyValue("error", e.getOriginalMessage())
                        .log("ignoring node metadata that is not valid JSON");
            }
        });
        return Node.newBuilder()
                .setId(id())
                .setMetadata(Struct.newBuilder().putAllFields(fields))
                .build();
    }

    private static Value string(String s) {
        return Value.newBuilder().setStringValue(s).build();
    }

    static Value toValue(@Nullable JsonNode node) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return Value.newBuilder().setNullValue(NullValue.NULL_VALUE).build();
        }
        if (node.isBoolean()) {
            return Value.newBuilder().setBoolValue(node.booleanValue()).build();
        }
        if (node.isNumber()) {
            return Value.newBuilder().setNumberValue(node.doubleValue()).build();
        }
        if (node.isTextual()) {
            return string(node.textValue());
        }
        if (node.isArray()) {
            ListValue.Builder list = ListValue.newBuilder();
            node.forEach(item -> list.addValues(toValue(item)));
            return Value.newBuilder().setListValue(list).build();
        }
        Struct.Builder struct = Struct.newBuilder();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            struct.putFields(e.getKey(), toValue(e.getValue()));
        }
        return Value.newBuilder().setStructValue(struct).build();
    }
}
