package io.ztunnel.xds.ads;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ListValue;
import com.google.protobuf.NullValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.ztunnel.xds.proto.envoy.core.Node;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The xDS node id and metadata. */
class NodeIdentityTest {

    static Value str(String s) {
        return Value.newBuilder().setStringValue(s).build();
    }

    @Test
    void buildsUpstreamsNodeIdAndMetadata() {
        NodeIdentity identity = new NodeIdentity(
                "10.244.0.7",
                "ztunnel-x7k2p",
                "istio-system",
                "worker-1",
                Map.of("CLUSTER_ID", "Kubernetes", "DNS_CAPTURE", "true"),
                Map.of("LABELS", "{\"app\": \"ztunnel\", \"n\": 2, \"on\": true, \"list\": [1, null]}"));
        Node node = identity.toNode();
        assertThat(node.getId())
                .isEqualTo("ztunnel~10.244.0.7~ztunnel-x7k2p.istio-system~istio-system.svc.cluster.local");
        Map<String, Value> fields = node.getMetadata().getFieldsMap();
        assertThat(fields)
                .containsEntry("NAME", str("ztunnel-x7k2p"))
                .containsEntry("NAMESPACE", str("istio-system"))
                .containsEntry("INSTANCE_IPS", str("10.244.0.7"))
                .containsEntry("NODE_NAME", str("worker-1"))
                .containsEntry("CLUSTER_ID", str("Kubernetes"))
                .containsEntry("DNS_CAPTURE", str("true"));
        Struct labels = node.getMetadata().getFieldsOrThrow("LABELS").getStructValue();
        assertThat(labels.getFieldsMap().get("app")).isEqualTo(str("ztunnel"));
        assertThat(labels.getFieldsOrThrow("n").getNumberValue()).isEqualTo(2.0);
        assertThat(labels.getFieldsOrThrow("on").getBoolValue()).isTrue();
        assertThat(labels.getFieldsOrThrow("list").getListValue())
                .isEqualTo(ListValue.newBuilder()
                        .addValues(Value.newBuilder().setNumberValue(1))
                        .addValues(Value.newBuilder().setNullValue(NullValue.NULL_VALUE))
                        .build());
    }

    @Test
    void defaultsTheIpAndLetsLaterSourcesWin() {
        NodeIdentity identity = new NodeIdentity(
                null,
                "p",
                "ns",
                null,
                Map.of("NAME", "override", "X", "1"),
                Map.of("X", "\"json\"", "BAD", "{not json"));
        Node node = identity.toNode();
        assertThat(node.getId()).isEqualTo("ztunnel~1.1.1.1~p.ns~ns.svc.cluster.local");
        Map<String, Value> fields = node.getMetadata().getFieldsMap();
        assertThat(fields.get("NAME")).isEqualTo(str("override"));
        assertThat(fields.get("X")).isEqualTo(str("json"));
        assertThat(fields.get("NODE_NAME")).isEqualTo(str(""));
        assertThat(fields).doesNotContainKey("BAD");
    }
}
