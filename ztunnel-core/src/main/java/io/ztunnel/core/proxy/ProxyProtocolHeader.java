package io.ztunnel.core.proxy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.net.Addresses;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import org.jspecify.annotations.Nullable;

/**
 * The PROXY protocol version 2 header ztunnel writes to an app whose workload asks for a {@code PROXY} application
 * tunnel, before the first payload byte: the 12-byte signature, version 2 with the {@code PROXY} command, TCP over IPv4
 * or IPv6 (or {@code UNSPEC} without addresses when source and destination are of different families), the addresses
 * and ports, and one TLV, {@link #TLV_PEER_IDENTITY}, carrying the client's SPIFFE URI when it has one.
 *
 * <p>Stateless. {@link #encode} returns a new buffer owned by the caller (who writes it to the upstream channel, which
 * then releases it).
 */
public final class ProxyProtocolHeader {
    /** The v2 signature: {@code \r\n\r\n\0\r\nQUIT\n}. */
    static final byte[] SIGNATURE = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

    /** Version 2 (high nibble), command PROXY (low nibble). */
    static final int VERSION_PROXY = 0x21;

    static final int TCP_OVER_IPV4 = 0x11;
    static final int TCP_OVER_IPV6 = 0x21;
    /** Address family unspecified, stream transport: the receiver is told nothing about the addresses. */
    static final int UNSPEC_STREAM = 0x01;

    /** Istio's TLV type for the client's SPIFFE identity (a URI, UTF-8). */
    public static final int TLV_PEER_IDENTITY = 0xD0;

    private ProxyProtocolHeader() {}

    /**
     * The header for a connection from {@code source} to {@code destination} (both canonicalised: IPv4-mapped IPv6 is
     * written as IPv4), with the client's identity as a TLV when {@code peerIdentity} is given.
     */
    public static ByteBuf encode(
            ByteBufAllocator alloc,
            InetSocketAddress source,
            InetSocketAddress destination,
            @Nullable SpiffeId peerIdentity) {
        InetAddress src = Addresses.canonical(source.getAddress());
        InetAddress dst = Addresses.canonical(destination.getAddress());
        boolean sameFamily = (src instanceof Inet4Address) == (dst instanceof Inet4Address);
        int family = !sameFamily ? UNSPEC_STREAM : src instanceof Inet4Address ? TCP_OVER_IPV4 : TCP_OVER_IPV6;
        byte[] identity = peerIdentity == null ? null : peerIdentity.toString().getBytes(StandardCharsets.UTF_8);
        int addressLength = sameFamily ? 2 * src.getAddress().length + 4 : 0;
        int tlvLength = identity == null ? 0 : 3 + identity.length;
        int length = addressLength + tlvLength;
        if (length > 0xFFFF) {
            throw new IllegalArgumentException("PROXY header too long: " + length + " bytes after the fixed part");
        }
        ByteBuf out = alloc.buffer(16 + length);
        out.writeBytes(SIGNATURE);
        out.writeByte(VERSION_PROXY);
        out.writeByte(family);
        out.writeShort(length);
        if (sameFamily) {
            out.writeBytes(src.getAddress());
            out.writeBytes(dst.getAddress());
            out.writeShort(source.getPort());
            out.writeShort(destination.getPort());
        }
        if (identity != null) {
            out.writeByte(TLV_PEER_IDENTITY);
            out.writeShort(identity.length);
            out.writeBytes(identity);
        }
        return out;
    }
}
