package io.ztunnel.cni.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

/** Decoding of the sockaddr that SO_ORIGINAL_DST returns, from bytes written by hand. */
class SocketOptionsTest {
    @Test
    void decodesSockaddrInWithPortInNetworkOrderAndFamilyInHostOrder() throws Exception {
        // family AF_INET=2 little-endian, port 8080 = 0x1f90 big-endian, 10.1.2.3, 8 zero bytes
        InetSocketAddress a = parse("0200" + "1f90" + "0a010203" + "0000000000000000");
        assertThat(a).isEqualTo(new InetSocketAddress(InetAddress.getByName("10.1.2.3"), 8080));
    }

    @Test
    void decodesSockaddrIn6() throws Exception {
        // family AF_INET6=10, port 443, flowinfo 0, fd00::1, scope 0
        InetSocketAddress a = parse("0a00" + "01bb" + "00000000" + "fd000000000000000000000000000001" + "00000000");
        assertThat(a).isEqualTo(new InetSocketAddress(InetAddress.getByName("fd00::1"), 443));
    }

    @Test
    void canonicalisesIpv4MappedIpv6ToIpv4() throws Exception {
        InetSocketAddress a = parse("0a00" + "0050" + "00000000" + "00000000000000000000ffffc0a80001" + "00000000");
        assertThat(a.getAddress()).isInstanceOf(Inet4Address.class);
        assertThat(a).isEqualTo(new InetSocketAddress(InetAddress.getByName("192.168.0.1"), 80));
    }

    @Test
    void refusesAnUnknownFamily() {
        assertThatThrownBy(() -> parse("0100" + "0050" + "7f000001" + "0000000000000000"))
                .hasMessageContaining("unexpected family 1");
    }

    @Test
    void originalDestinationOfANonSocketFdIsAnErrorNamingTheOption() throws Exception {
        int fd = Libc.open("/dev/null", Libc.O_RDONLY | Libc.O_CLOEXEC);
        try {
            assertThatThrownBy(() -> SocketOptions.originalDestination(fd))
                    .isInstanceOf(ErrnoException.class)
                    .hasMessageContaining("SO_ORIGINAL_DST")
                    .hasMessageContaining("ENOTSOCK");
        } finally {
            Libc.close(fd);
        }
    }

    private static InetSocketAddress parse(String hex) throws Exception {
        byte[] bytes = HexFormat.of().parseHex(hex);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(bytes.length, 8);
            seg.copyFrom(MemorySegment.ofArray(bytes));
            return SocketOptions.parseSockaddr(seg, "test");
        }
    }
}
