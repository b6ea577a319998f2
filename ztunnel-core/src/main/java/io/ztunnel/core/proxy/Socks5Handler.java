package io.ztunnel.core.proxy;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.ztunnel.core.net.HostResolver;
import io.ztunnel.core.net.PendingInput;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.BiConsumer;
import org.jspecify.annotations.Nullable;

/**
 * The SOCKS5 front door ({@code UNSTABLE_ENABLE_SOCKS5}, 127.0.0.1:15080), as minimal as ztunnel's: version 5, the
 * no-authentication method only, CONNECT only, IPv4, IPv6 and domain-name targets. Like ztunnel it answers success
 * (bound address 0.0.0.0:0) before connecting upstream, then hands the connection to the outbound path. Domain names
 * are resolved with the system resolver (ztunnel uses its DNS proxy's).
 *
 * <p>Threading: the client channel's event loop; reads are requested explicitly while negotiating. Bytes the client
 * sends after its request are passed on (to the {@link PendingInput} behind this handler) when it removes itself.
 */
public final class Socks5Handler extends ByteToMessageDecoder {
    private static final byte VERSION = 5;

    private final BiConsumer<Channel, InetSocketAddress> connect;
    private boolean greeted;

    /** @param connect what to do with the client channel and its target once negotiated (the outbound path) */
    public Socks5Handler(BiConsumer<Channel, InetSocketAddress> connect) {
        this.connect = connect;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        ctx.read();
        super.channelActive(ctx);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (!greeted) {
            if (in.readableBytes() < 2) {
                ctx.read();
                return;
            }
            int methods = in.getUnsignedByte(in.readerIndex() + 1);
            if (in.readableBytes() < 2 + methods) {
                ctx.read();
                return;
            }
            if (in.readByte() != VERSION) {
                fail(ctx, in, null, "not a SOCKS5 client");
                return;
            }
            in.skipBytes(1);
            boolean noAuth = false;
            for (int i = 0; i < methods; i++) {
                noAuth |= in.readByte() == 0;
            }
            if (!noAuth) {
                fail(ctx, in, new byte[] {VERSION, (byte) 0xff}, "client does not offer the no-authentication method");
                return;
            }
            greeted = true;
            ctx.writeAndFlush(ctx.alloc().buffer(2).writeByte(VERSION).writeByte(0));
        }
        if (in.readableBytes() < 5) {
            ctx.read();
            return;
        }
        int start = in.readerIndex();
        int atyp = in.getUnsignedByte(start + 3);
        int addressLength = switch (atyp) {
            case 1 -> 4;
            case 4 -> 16;
            case 3 -> 1 + in.getUnsignedByte(start + 4);
            default -> -1;
        };
        if (addressLength < 0) {
            fail(ctx, in, reply(8), "unsupported address type " + atyp);
            return;
        }
        if (in.readableBytes() < 4 + addressLength + 2) {
            ctx.read();
            return;
        }
        if (in.readByte() != VERSION) {
            fail(ctx, in, reply(1), "bad request version");
            return;
        }
        byte command = in.readByte();
        in.skipBytes(2); // reserved, address type
        if (command != 1) {
            in.skipBytes(addressLength + 2);
            fail(ctx, in, reply(7), "only CONNECT is supported");
            return;
        }
        byte[] address = new byte[atyp == 3 ? addressLength - 1 : addressLength];
        if (atyp == 3) {
            in.skipBytes(1);
        }
        in.readBytes(address);
        int port = in.readUnsignedShort();
        ctx.writeAndFlush(ctx.alloc().buffer(10).writeBytes(reply(0)));
        ctx.pipeline().remove(this); // leftover client bytes flow on to the PendingInput
        if (atyp == 3) {
            String host = new String(address, StandardCharsets.US_ASCII);
            HostResolver.resolve(host)
                    .whenComplete((ips, error) -> ctx.channel().eventLoop().execute(() -> {
                        if (error != null) {
                            AccessLog.failed(
                                    Direction.OUTBOUND,
                                    client(ctx),
                                    InetSocketAddress.createUnresolved(host, port),
                                    "cannot resolve " + host);
                            ctx.channel().close();
                        } else {
                            connect.accept(ctx.channel(), new InetSocketAddress(ips.getFirst(), port));
                        }
                    }));
        } else {
            try {
                connect.accept(ctx.channel(), new InetSocketAddress(InetAddress.getByAddress(address), port));
            } catch (UnknownHostException e) {
                ctx.channel().close();
            }
        }
    }

    /** The client's address (always a socket address on a real listener). */
    private static @Nullable InetSocketAddress client(ChannelHandlerContext ctx) {
        return ctx.channel().remoteAddress() instanceof InetSocketAddress a ? a : null;
    }

    private static byte[] reply(int status) {
        return new byte[] {VERSION, (byte) status, 0, 1, 0, 0, 0, 0, 0, 0};
    }

    private static void fail(ChannelHandlerContext ctx, ByteBuf in, byte @Nullable [] reply, String reason) {
        in.skipBytes(in.readableBytes());
        AccessLog.failed(Direction.OUTBOUND, client(ctx), null, "SOCKS5: " + reason);
        if (reply != null) {
            ctx.writeAndFlush(ctx.alloc().buffer(reply.length).writeBytes(reply))
                    .addListener(ChannelFutureListener.CLOSE);
        } else {
            ctx.close();
        }
    }
}
