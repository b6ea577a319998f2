package io.ztunnel.core.testing;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * A reader of PROXY protocol version 2 headers written from the protocol's specification (haproxy's
 * {@code proxy-protocol.txt}, section 2.2), independently of the daemon's encoder, to check what an app behind a
 * {@code PROXY} application tunnel receives. It reads exactly the header from a stream and leaves the payload behind
 * it unread, and rejects anything the specification does not allow.
 */
public final class ProxyV2Parser {
    private static final byte[] SIGNATURE = HexFormat.of().parseHex("0d0a0d0a000d0a515549540a");

    private ProxyV2Parser() {}

    /**
     * A parsed header.
     *
     * @param command 0 LOCAL, 1 PROXY
     * @param addressFamily 0 AF_UNSPEC, 1 AF_INET, 2 AF_INET6, 3 AF_UNIX
     * @param transport 0 UNSPEC, 1 STREAM, 2 DGRAM
     * @param source null when the family carries no addresses (UNSPEC)
     * @param tlvs type → value, in order
     * @param length the whole header's length in bytes
     */
    public record Header(
            int command,
            int addressFamily,
            int transport,
            @Nullable InetSocketAddress source,
            @Nullable InetSocketAddress destination,
            Map<Integer, byte[]> tlvs,
            int length) {}

    /** Reads one header from the start of {@code bytes}. */
    public static Header parse(byte[] bytes) throws IOException {
        return read(new ByteArrayInputStream(bytes));
    }

    /** Reads one header from {@code in}, consuming exactly its bytes. */
    public static Header read(InputStream in) throws IOException {
        DataInputStream data = new DataInputStream(in);
        byte[] signature = new byte[12];
        data.readFully(signature);
        if (!Arrays.equals(signature, SIGNATURE)) {
            throw new IOException("not a PROXY v2 signature: " + HexFormat.of().formatHex(signature));
        }
        int versionCommand = data.readUnsignedByte();
        if (versionCommand >> 4 != 2) {
            throw new IOException("version " + (versionCommand >> 4) + ", expected 2");
        }
        int command = versionCommand & 0x0F;
        if (command > 1) {
            throw new IOException("unknown command " + command);
        }
        int familyTransport = data.readUnsignedByte();
        int family = familyTransport >> 4;
        int transport = familyTransport & 0x0F;
        if (family > 3 || transport > 2) {
            throw new IOException("unknown family/transport byte " + Integer.toHexString(familyTransport));
        }
        int remaining = data.readUnsignedShort();
        byte[] rest = new byte[remaining];
        data.readFully(rest);
        int addressBytes = switch (family) {
            case 1 -> 12;
            case 2 -> 36;
            case 3 -> 216;
            default -> 0;
        };
        if (remaining < addressBytes) {
            throw new IOException("length " + remaining + " is shorter than the addresses (" + addressBytes + ")");
        }
        InetSocketAddress source = null;
        InetSocketAddress destination = null;
        if (family == 1 || family == 2) {
            int ipLength = family == 1 ? 4 : 16;
            InetAddress src = InetAddress.getByAddress(Arrays.copyOfRange(rest, 0, ipLength));
            InetAddress dst = InetAddress.getByAddress(Arrays.copyOfRange(rest, ipLength, 2 * ipLength));
            int srcPort = u16(rest, 2 * ipLength);
            int dstPort = u16(rest, 2 * ipLength + 2);
            source = new InetSocketAddress(src, srcPort);
            destination = new InetSocketAddress(dst, dstPort);
        }
        Map<Integer, byte[]> tlvs = new LinkedHashMap<>();
        int at = addressBytes;
        while (at < remaining) {
            if (remaining - at < 3) {
                throw new EOFException("truncated TLV at offset " + at);
            }
            int type = rest[at] & 0xFF;
            int length = u16(rest, at + 1);
            if (at + 3 + length > remaining) {
                throw new EOFException("TLV 0x" + Integer.toHexString(type) + " overruns the header");
            }
            if (tlvs.put(type, Arrays.copyOfRange(rest, at + 3, at + 3 + length)) != null) {
                throw new IOException("TLV 0x" + Integer.toHexString(type) + " twice");
            }
            at += 3 + length;
        }
        return new Header(command, family, transport, source, destination, tlvs, 16 + remaining);
    }

    private static int u16(byte[] b, int at) {
        return ((b[at] & 0xFF) << 8) | (b[at + 1] & 0xFF);
    }
}
