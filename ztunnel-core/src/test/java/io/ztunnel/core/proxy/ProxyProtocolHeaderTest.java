package io.ztunnel.core.proxy;

import static io.ztunnel.core.state.Fixtures.addr;
import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.UnpooledByteBufAllocator;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.testing.ProxyV2Parser;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/** The PROXY v2 header, checked by the independent {@link ProxyV2Parser} and, once, byte for byte. */
class ProxyProtocolHeaderTest {
    private static final SpiffeId CLIENT = new SpiffeId("cluster.local", "ns", "client");

    private static byte[] encode(InetSocketAddress src, InetSocketAddress dst, @Nullable SpiffeId id) {
        ByteBuf buf = ProxyProtocolHeader.encode(new UnpooledByteBufAllocator(false), src, dst, id);
        try {
            return ByteBufUtil.getBytes(buf);
        } finally {
            buf.release();
        }
    }

    @Test
    void ipv4SourceAndDestinationAreTcpOverIpv4WithTheIdentityTlv() throws Exception {
        byte[] bytes = encode(addr("10.0.1.5", 40000), addr("10.96.0.10", 80), CLIENT);
        ProxyV2Parser.Header h = ProxyV2Parser.parse(bytes);
        assertThat(h.command()).isEqualTo(1);
        assertThat(h.addressFamily()).isEqualTo(1);
        assertThat(h.transport()).isEqualTo(1);
        assertThat(h.source()).isEqualTo(addr("10.0.1.5", 40000));
        assertThat(h.destination()).isEqualTo(addr("10.96.0.10", 80));
        assertThat(h.tlvs()).containsOnlyKeys(0xD0);
        assertThat(new String(h.tlvs().get(0xD0), StandardCharsets.UTF_8))
                .isEqualTo("spiffe://cluster.local/ns/ns/sa/client");
        assertThat(h.length()).isEqualTo(bytes.length);
    }

    @Test
    void ipv4BytesAreExactlyTheSpecifiedLayout() {
        byte[] bytes = encode(addr("10.0.1.5", 40000), addr("10.96.0.10", 80), null);
        assertThat(HexFormat.of().formatHex(bytes))
                .isEqualTo(
                        "0d0a0d0a000d0a515549540a" // signature
                                + "21" // version 2, PROXY
                                + "11" // TCP over IPv4
                                + "000c" // 12 bytes follow
                                + "0a000105" + "0a60000a" // addresses
                                + "9c40" + "0050"); // ports 40000, 80
    }

    @Test
    void ipv6SourceAndDestinationAreTcpOverIpv6() throws Exception {
        byte[] bytes = encode(addr("fd00::5", 1234), addr("fd00::10", 8080), CLIENT);
        ProxyV2Parser.Header h = ProxyV2Parser.parse(bytes);
        assertThat(bytes[13]).isEqualTo((byte) 0x21);
        assertThat(h.addressFamily()).isEqualTo(2);
        assertThat(h.transport()).isEqualTo(1);
        assertThat(h.source()).isEqualTo(addr("fd00::5", 1234));
        assertThat(h.destination()).isEqualTo(addr("fd00::10", 8080));
        assertThat(h.tlvs()).containsOnlyKeys(0xD0);
        assertThat(h.length()).isEqualTo(16 + 36 + 3 + CLIENT.toString().length());
    }

    @Test
    void anIpv4MappedSourceIsWrittenAsIpv4() throws Exception {
        ProxyV2Parser.Header h =
                ProxyV2Parser.parse(encode(addr("::ffff:10.0.1.5", 5000), addr("10.0.2.1", 8080), null));
        assertThat(h.addressFamily()).isEqualTo(1);
        assertThat(h.source()).isEqualTo(addr("10.0.1.5", 5000));
    }

    @Test
    void differentFamiliesAreUnspecWithoutAddressesButKeepTheTlv() throws Exception {
        byte[] bytes = encode(addr("10.0.1.5", 5000), addr("fd00::10", 8080), CLIENT);
        assertThat(bytes[13]).isEqualTo((byte) 0x01);
        ProxyV2Parser.Header h = ProxyV2Parser.parse(bytes);
        assertThat(h.command()).isEqualTo(1);
        assertThat(h.addressFamily()).isZero();
        assertThat(h.transport()).isEqualTo(1);
        assertThat(h.source()).isNull();
        assertThat(h.tlvs()).containsOnlyKeys(0xD0);
        assertThat(h.length()).isEqualTo(16 + 3 + CLIENT.toString().length());
    }

    @Test
    void noIdentityMeansNoTlvAndNeverAHostnameTlv() throws Exception {
        ProxyV2Parser.Header h = ProxyV2Parser.parse(encode(addr("fd00::5", 1), addr("fd00::6", 2), null));
        assertThat(h.tlvs()).isEmpty();
        assertThat(h.length()).isEqualTo(16 + 36);
    }
}
