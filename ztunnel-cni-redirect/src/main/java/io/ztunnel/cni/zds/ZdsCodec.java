package io.ztunnel.cni.zds;

import io.ztunnel.cni.linux.SeqpacketSocket;
import io.ztunnel.cni.zds.proto.Ack;
import io.ztunnel.cni.zds.proto.AddWorkload;
import io.ztunnel.cni.zds.proto.DelWorkload;
import io.ztunnel.cni.zds.proto.KeepWorkload;
import io.ztunnel.cni.zds.proto.SnapshotSent;
import io.ztunnel.cni.zds.proto.Version;
import io.ztunnel.cni.zds.proto.WorkloadRequest;
import io.ztunnel.cni.zds.proto.WorkloadResponse;
import io.ztunnel.cni.zds.proto.ZdsHello;
import java.nio.charset.StandardCharsets;

/**
 * Encoding of the ZDS messages (generated protobuf classes, package {@code istio.workload.zds}) and
 * the translation between the proto {@code WorkloadInfo} and ours. Stateless.
 */
final class ZdsCodec {
    /** Room left for the ack's framing bytes when a NACK text is capped to the 1024-byte limit. */
    private static final int MAX_ERROR_BYTES = SeqpacketSocket.MAX_MESSAGE - 16;

    private ZdsCodec() {}

    static byte[] hello() {
        return ZdsHello.newBuilder().setVersion(Version.V1).build().toByteArray();
    }

    static byte[] ack() {
        return response("");
    }

    /** A NACK; the text is cut (on a character boundary) so the message fits in 1024 bytes. */
    static byte[] nack(String error) {
        String text = error.isEmpty() ? "unspecified error" : error;
        return response(truncateUtf8(text, MAX_ERROR_BYTES));
    }

    private static byte[] response(String error) {
        return WorkloadResponse.newBuilder()
                .setAck(Ack.newBuilder().setError(error))
                .build()
                .toByteArray();
    }

    /** Cuts {@code s} to at most {@code maxBytes} of UTF-8, marking the cut with "...". */
    static String truncateUtf8(String s, int maxBytes) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        if (bytes.length <= maxBytes) {
            return s;
        }
        int end = maxBytes - 3;
        while (end > 0 && (bytes[end] & 0xC0) == 0x80) {
            end--; // never split a multi-byte character
        }
        return new String(bytes, 0, end, StandardCharsets.UTF_8) + "...";
    }

    static byte[] add(String uid, WorkloadInfo info) {
        return WorkloadRequest.newBuilder()
                .setAdd(AddWorkload.newBuilder().setUid(uid).setWorkloadInfo(toProto(info)))
                .build()
                .toByteArray();
    }

    static byte[] keep(String uid) {
        return WorkloadRequest.newBuilder()
                .setKeep(KeepWorkload.newBuilder().setUid(uid))
                .build()
                .toByteArray();
    }

    static byte[] del(String uid) {
        return WorkloadRequest.newBuilder()
                .setDel(DelWorkload.newBuilder().setUid(uid))
                .build()
                .toByteArray();
    }

    static byte[] snapshotSent() {
        return WorkloadRequest.newBuilder()
                .setSnapshotSent(SnapshotSent.getDefaultInstance())
                .build()
                .toByteArray();
    }

    static WorkloadInfo fromProto(io.ztunnel.cni.zds.proto.WorkloadInfo p) {
        return new WorkloadInfo(p.getName(), p.getNamespace(), p.getServiceAccount());
    }

    static io.ztunnel.cni.zds.proto.WorkloadInfo toProto(WorkloadInfo info) {
        return io.ztunnel.cni.zds.proto.WorkloadInfo.newBuilder()
                .setName(info.name())
                .setNamespace(info.namespace())
                .setServiceAccount(info.serviceAccount())
                .build();
    }
}
