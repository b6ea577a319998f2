package io.ztunnel.core.app;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Objects;

/**
 * Gives Netty a machine id before its first channel exists. Netty builds channel ids from a hardware address and,
 * where a network namespace has none (a pod's namespace holding only {@code lo}, a container without a MAC), warns
 * at every start that it fell back to random bytes: noise in the operator's first minute of logs. The id only has
 * to tell machines apart, so an EUI-64 derived from the node and pod name serves. An id the operator set
 * ({@code -Dio.netty.machineId}) is kept. Call from {@code main} before any channel is created; not thread-safe.
 */
final class NettyMachineId {
    static final String PROPERTY = "io.netty.machineId";

    private NettyMachineId() {}

    /** Sets {@code io.netty.machineId} unless already set; returns the id in force. */
    static String configure(String nodeName, String podName) {
        String existing = System.getProperty(PROPERTY);
        if (existing != null && !existing.isBlank()) {
            return existing;
        }
        String id = derive(Objects.requireNonNullElse(nodeName, "") + "/" + Objects.requireNonNullElse(podName, "")
                + "/" + hostName());
        System.setProperty(PROPERTY, id);
        return id;
    }

    /** Eight bytes of SHA-256 of {@code seed} as {@code xx:xx:..}, with the locally-administered bit set. */
    static String derive(String seed) {
        byte[] digest;
        try {
            digest = MessageDigest.getInstance("SHA-256").digest(seed.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available in this JVM", e);
        }
        byte[] id = new byte[8];
        System.arraycopy(digest, 0, id, 0, 8);
        id[0] = (byte) ((id[0] | 0x02) & 0xfe); // locally administered, unicast: never a real vendor address
        return HexFormat.ofDelimiter(":").formatHex(id);
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "";
        }
    }
}
