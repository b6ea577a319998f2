package io.ztunnel.cni.zds;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/**
 * Hand-encoding of protobuf for tests, independent of the generated code: a length-delimited field
 * is {@code tag = (field << 3) | 2}, a varint length, then the bytes. Enough for ZDS, whose
 * messages are all strings, submessages and one enum.
 */
final class Wire {
    private Wire() {}

    /** A length-delimited field (string or submessage). */
    static byte[] ld(int field, byte[]... parts) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            body.writeBytes(p);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        varint(out, (field << 3) | 2);
        varint(out, body.size());
        out.writeBytes(body.toByteArray());
        return out.toByteArray();
    }

    static byte[] str(int field, String s) {
        return ld(field, s.getBytes(StandardCharsets.UTF_8));
    }

    /** A varint field (wire type 0). */
    static byte[] varintField(int field, long value) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        varint(out, field << 3);
        varint(out, value);
        return out.toByteArray();
    }

    private static void varint(ByteArrayOutputStream out, long v) {
        while ((v & ~0x7FL) != 0) {
            out.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    static String hex(byte[] b) {
        return HexFormat.ofDelimiter(" ").formatHex(b);
    }

    // WorkloadRequest{add=1{uid=1, workload_info=2{name=1, namespace=2, service_account=3}}}
    static byte[] add(String uid, String name, String namespace, String sa) {
        return ld(1, str(1, uid), ld(2, str(1, name), str(2, namespace), str(3, sa)));
    }

    static byte[] addWithoutInfo(String uid) {
        return ld(1, str(1, uid));
    }

    // WorkloadRequest{keep=5{uid=1}}
    static byte[] keep(String uid) {
        return ld(5, str(1, uid));
    }

    // WorkloadRequest{del=2{uid=2}}  (DelWorkload's uid is field 2)
    static byte[] del(String uid) {
        return ld(2, str(2, uid));
    }

    // WorkloadRequest{snapshot_sent=3{}}
    static byte[] snapshotSent() {
        return ld(3);
    }

    // WorkloadResponse{ack=1{error=1}}
    static byte[] ack() {
        return ld(1);
    }

    static byte[] nack(String error) {
        return ld(1, str(1, error));
    }
}
