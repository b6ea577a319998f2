package io.ztunnel.core.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.embedded.EmbeddedChannel;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The SOCKS5 front door on an {@link EmbeddedChannel}: negotiation in one or many pieces, the targets it accepts, and
 * a clear refusal (reply code, then close) for everything else. Each test ends with nothing left unread or leaked.
 */
class Socks5HandlerTest {
    private static final HexFormat HEX = HexFormat.of();
    private static final String GREETING = "050100"; // version 5, one method: no authentication
    private static final String OK = "0500";
    private static final String SUCCEEDED = "05000001000000000000";

    private final List<InetSocketAddress> targets = new ArrayList<>();
    private final List<Channel> clients = new ArrayList<>();
    private final EmbeddedChannel channel = new EmbeddedChannel(new Socks5Handler((client, target) -> {
        clients.add(client);
        targets.add(target);
    }));

    private void send(String hex) {
        channel.writeInbound(Unpooled.wrappedBuffer(HEX.parseHex(hex)));
    }

    /** Everything the handler answered, as hex. */
    private String answered() {
        StringBuilder out = new StringBuilder();
        ByteBuf buf;
        while ((buf = channel.readOutbound()) != null) {
            out.append(ByteBufUtil.hexDump(buf));
            buf.release();
        }
        return out.toString();
    }

    private void assertDone() {
        assertThat(answered()).isEmpty();
        assertThat(channel.finishAndReleaseAll()).isFalse();
    }

    @Test
    void negotiatesAnIpv4ConnectAndHandsOverTheClientWithItsLaterBytes() throws Exception {
        send(GREETING);
        assertThat(answered()).isEqualTo(OK);
        send("050100010a0000011f90" + HEX.formatHex("GET /".getBytes(StandardCharsets.US_ASCII)));
        assertThat(answered()).isEqualTo(SUCCEEDED);
        assertThat(targets).containsExactly(new InetSocketAddress(InetAddress.getByName("10.0.0.1"), 8080));
        assertThat(clients).containsExactly(channel);
        assertThat(channel.pipeline().get(Socks5Handler.class))
                .as("removed once negotiated")
                .isNull();

        // What the client sent after its request goes on down the pipeline (to the PendingInput in a proxy set).
        ByteBuf early = channel.readInbound();
        assertThat(early.toString(StandardCharsets.US_ASCII)).isEqualTo("GET /");
        early.release();
        assertDone();
    }

    @Test
    void acceptsTheGreetingAndRequestInOnePacketOrByteByByte() throws Exception {
        String all = GREETING + "05010004" + "fd000000000000000000000000000001" + "0050";
        for (int i = 0; i < all.length(); i += 2) {
            send(all.substring(i, i + 2));
        }
        assertThat(answered()).isEqualTo(OK + SUCCEEDED);
        assertThat(targets).containsExactly(new InetSocketAddress(InetAddress.getByName("fd00::1"), 80));
        assertDone();
    }

    @Test
    void refusesClientsThatDoNotOfferNoAuthentication() {
        send("050102"); // username/password only
        assertThat(answered()).isEqualTo("05ff");
        assertThat(channel.isOpen()).isFalse();
        assertThat(targets).isEmpty();
        assertDone();
    }

    @Test
    void closesOnAnotherProtocolWithoutAnswering() {
        send("040100"); // SOCKS4
        assertThat(channel.isOpen()).isFalse();
        assertDone();
    }

    @Test
    void answersCommandNotSupportedForBind() {
        send(GREETING);
        assertThat(answered()).isEqualTo(OK);
        send("050200010a0000011f90"); // BIND
        assertThat(answered()).isEqualTo("05070001000000000000");
        assertThat(channel.isOpen()).isFalse();
        assertThat(targets).isEmpty();
        assertDone();
    }

    @Test
    void answersAddressTypeNotSupportedForUnknownTypes() {
        send(GREETING);
        answered();
        send("0501000900");
        assertThat(answered()).isEqualTo("05080001000000000000");
        assertThat(channel.isOpen()).isFalse();
        assertDone();
    }

    @Test
    void aClientThatLeavesMidNegotiationReleasesWhatItSent() {
        send(GREETING);
        answered();
        ByteBuf partial = Unpooled.wrappedBuffer(HEX.parseHex("05010001"));
        channel.writeInbound(partial);
        channel.close();
        assertThat(partial.refCnt()).isZero();
        assertThat(targets).isEmpty();
        assertDone();
    }
}
