package io.ztunnel.cni.linux;

import io.netty.channel.ChannelOption;
import io.netty.channel.unix.IntegerUnixChannelOption;
import io.netty.channel.unix.UnixChannel;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteOrder;
import java.util.Optional;

/**
 * The Linux socket options the in-pod data plane needs and neither the JDK nor Netty names: {@code
 * SO_MARK}, {@code IP(V6)_TRANSPARENT}, {@code IP(V6)_FREEBIND} as Netty {@link ChannelOption}s
 * (set them with {@code bootstrap.option(...)} or {@code channel.config().setOption(...)}, value 1
 * to enable), plus raw helpers on an fd and the {@code SO_ORIGINAL_DST} lookup for REDIRECTed
 * connections.
 *
 * <p>Threading: all methods are stateless. The fd-based helpers must be called while the fd is
 * open; for a Netty channel that means from its event loop or before it is registered, so that a
 * concurrent close cannot hand the fd number to another socket. Nothing here takes ownership of an
 * fd.
 */
public final class SocketOptions {
    /** ztunnel's {@code PACKET_MARK} and istio-cni's {@code InpodMark}: 1337 = 0x539. */
    public static final int DEFAULT_MARK = 1337;

    /** {@code SOL_SOCKET/SO_MARK}: the fwmark on every packet the socket sends (CAP_NET_ADMIN). */
    public static final ChannelOption<Integer> SO_MARK =
            new IntegerUnixChannelOption("SO_MARK", Libc.SOL_SOCKET, Libc.SO_MARK);

    /** {@code SOL_IP/IP_TRANSPARENT} (19): bind to and accept for non-local addresses. */
    public static final ChannelOption<Integer> IP_TRANSPARENT =
            new IntegerUnixChannelOption("IP_TRANSPARENT", Libc.SOL_IP, 19);

    /** {@code SOL_IPV6/IPV6_TRANSPARENT} (75): same as {@link #IP_TRANSPARENT} for IPv6 sockets. */
    public static final ChannelOption<Integer> IPV6_TRANSPARENT =
            new IntegerUnixChannelOption("IPV6_TRANSPARENT", Libc.SOL_IPV6, 75);

    /** {@code SOL_IP/IP_FREEBIND} (15): bind to an address not (yet) configured on any interface. */
    public static final ChannelOption<Integer> IP_FREEBIND =
            new IntegerUnixChannelOption("IP_FREEBIND", Libc.SOL_IP, 15);

    /** {@code SOL_IPV6/IPV6_FREEBIND} (78): same as {@link #IP_FREEBIND} for IPv6 sockets. */
    public static final ChannelOption<Integer> IPV6_FREEBIND =
            new IntegerUnixChannelOption("IPV6_FREEBIND", Libc.SOL_IPV6, 78);

    /** {@code SO_ORIGINAL_DST} (SOL_IP) and {@code IP6T_SO_ORIGINAL_DST} (SOL_IPV6) share 80. */
    private static final int SO_ORIGINAL_DST = 80;

    private static final ValueLayout.OfShort SHORT_BE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private SocketOptions() {}

    /** Sets {@code SO_MARK} on {@code fd}. */
    public static void setMark(int fd, int mark) throws ErrnoException {
        Libc.setsockoptInt(fd, Libc.SOL_SOCKET, Libc.SO_MARK, mark, "SO_MARK");
    }

    /** Reads {@code SO_MARK} of {@code fd}. */
    public static int mark(int fd) throws ErrnoException {
        return Libc.getsockoptInt(fd, Libc.SOL_SOCKET, Libc.SO_MARK, "SO_MARK");
    }

    /** Reads an int socket option; {@code name} only labels the error. */
    public static int getInt(int fd, int level, int optname, String name) throws ErrnoException {
        return Libc.getsockoptInt(fd, level, optname, name);
    }

    /** Sets an int socket option; {@code name} only labels the error. */
    public static void setInt(int fd, int level, int optname, int value, String name) throws ErrnoException {
        Libc.setsockoptInt(fd, level, optname, value, name);
    }

    /**
     * The destination a connection had before an iptables/nft REDIRECT or DNAT rewrote it, read with
     * {@code SO_ORIGINAL_DST} (IPv4, also answers for IPv4-mapped connections on dual-stack sockets)
     * and then {@code IP6T_SO_ORIGINAL_DST}. An IPv4-mapped IPv6 answer is returned as an {@link
     * Inet4Address}.
     *
     * <p>Empty when the kernel has no conntrack entry for the connection (it was not redirected and
     * conntrack is not active in that namespace) or the socket is not TCP. For a connection that
     * conntrack tracks without rewriting, the answer equals the local address.
     *
     * @param channel an accepted (or connected) epoll TCP channel, still open
     * @throws ErrnoException for failures other than "no such entry" (e.g. a closed fd)
     */
    public static Optional<InetSocketAddress> originalDestination(UnixChannel channel) throws IOException {
        return originalDestination(channel.fd().intValue());
    }

    /** {@link #originalDestination(UnixChannel)} on a raw fd. */
    public static Optional<InetSocketAddress> originalDestination(int fd) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v4 = arena.allocate(16, 8);
            int n = Libc.getsockoptRaw(fd, Libc.SOL_IP, SO_ORIGINAL_DST, v4);
            if (n >= 0) {
                return Optional.of(parseSockaddr(v4, "SO_ORIGINAL_DST"));
            }
            if (!isNoAnswer(-n)) {
                throw new ErrnoException("getsockopt", "SO_ORIGINAL_DST on fd " + fd, -n);
            }
            MemorySegment v6 = arena.allocate(28, 8);
            n = Libc.getsockoptRaw(fd, Libc.SOL_IPV6, SO_ORIGINAL_DST, v6);
            if (n >= 0) {
                return Optional.of(parseSockaddr(v6, "IP6T_SO_ORIGINAL_DST"));
            }
            if (!isNoAnswer(-n)) {
                throw new ErrnoException("getsockopt", "IP6T_SO_ORIGINAL_DST on fd " + fd, -n);
            }
            return Optional.empty();
        }
    }

    /**
     * ENOENT: no conntrack entry. ENOPROTOOPT: conntrack for that family is not loaded, or the family
     * does not match the socket. EINVAL/EOPNOTSUPP: not a TCP socket of that family.
     */
    private static boolean isNoAnswer(int errno) {
        return errno == Libc.ENOENT || errno == Libc.ENOPROTOOPT || errno == Libc.EINVAL || errno == Libc.EOPNOTSUPP;
    }

    /**
     * Decodes a {@code sockaddr_in} or {@code sockaddr_in6}: family in host byte order at 0, port in
     * network byte order at 2; IPv4 address at 4, or IPv6 address at 8 and scope id at 24.
     */
    static InetSocketAddress parseSockaddr(MemorySegment sa, String what) throws IOException {
        int family = Short.toUnsignedInt(sa.get(ValueLayout.JAVA_SHORT_UNALIGNED, 0));
        int port = Short.toUnsignedInt(sa.get(SHORT_BE, 2));
        try {
            if (family == Libc.AF_INET) {
                byte[] addr = sa.asSlice(4, 4).toArray(ValueLayout.JAVA_BYTE);
                return new InetSocketAddress(InetAddress.getByAddress(addr), port);
            }
            if (family == Libc.AF_INET6 && sa.byteSize() >= 28) {
                byte[] addr = sa.asSlice(8, 16).toArray(ValueLayout.JAVA_BYTE);
                if (isV4Mapped(addr)) {
                    byte[] v4 = {addr[12], addr[13], addr[14], addr[15]};
                    return new InetSocketAddress(InetAddress.getByAddress(v4), port);
                }
                int scope = sa.get(ValueLayout.JAVA_INT_UNALIGNED, 24);
                InetAddress ip =
                        scope == 0 ? InetAddress.getByAddress(addr) : Inet6Address.getByAddress(null, addr, scope);
                return new InetSocketAddress(ip, port);
            }
        } catch (UnknownHostException e) {
            throw new IOException(what + ": malformed address", e); // only for wrong lengths
        }
        throw new IOException(what + " returned an address of unexpected family " + family);
    }

    private static boolean isV4Mapped(byte[] a) {
        for (int i = 0; i < 10; i++) {
            if (a[i] != 0) {
                return false;
            }
        }
        return a[10] == (byte) 0xff && a[11] == (byte) 0xff;
    }
}
