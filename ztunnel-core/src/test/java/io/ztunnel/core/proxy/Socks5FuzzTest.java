package io.ztunnel.core.proxy;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fuzzes the SOCKS5 front door ({@link Socks5Handler}) on an {@link EmbeddedChannel}: a client's bytes, cut into
 * fuzzed pieces. Properties: no exception reaches the pipeline; the channel ends closed, or connected to exactly one
 * target, or still waiting for more bytes of an incomplete request; what was written back is a sequence of
 * well-formed SOCKS5 replies; every buffer is released (the input pieces, the bytes passed on after the request, the
 * replies). Domain-name targets resolve from a hosts file only in the fuzzing JVMs (never the network). Longer runs:
 * README "Reliability".
 */
class Socks5FuzzTest {
    private static final Logger log = LoggerFactory.getLogger(Socks5FuzzTest.class);
    private static final AtomicLong executions = new AtomicLong();
    private static final InetSocketAddress CLIENT = new InetSocketAddress(InetAddress.getLoopbackAddress(), 40000);
    private static final InetSocketAddress LISTENER = new InetSocketAddress(InetAddress.getLoopbackAddress(), 15080);

    /** An embedded channel with socket addresses, as the handler's access log reads them. */
    private static final class ClientChannel extends EmbeddedChannel {
        ClientChannel() {
            super(false, false);
        }

        @Override
        protected SocketAddress remoteAddress0() {
            return CLIENT;
        }

        @Override
        protected SocketAddress localAddress0() {
            return LISTENER;
        }
    }

    @FuzzTest(maxDuration = "10m")
    void negotiatesOrCloses(FuzzedDataProvider data) throws Exception {
        executions.incrementAndGet();
        List<InetSocketAddress> targets = new ArrayList<>();
        ClientChannel channel = new ClientChannel();
        channel.pipeline()
                .addLast(new Socks5Handler((ch, target) -> targets.add(target)), new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        ReferenceCountUtil.release(msg); // client bytes after the request
                    }
                });
        channel.register();
        List<ByteBuf> pieces = new ArrayList<>();
        try {
            while (data.remainingBytes() > 0 && channel.isOpen()) {
                byte[] bytes = data.consumeBytes(data.consumeInt(1, 64));
                if (bytes.length == 0) {
                    break; // (Unpooled's shared empty buffer is never released)
                }
                ByteBuf piece = Unpooled.copiedBuffer(bytes);
                pieces.add(piece);
                channel.writeInbound(piece);
            }
            // Once the request is read the handler leaves the pipeline; a domain-name target then resolves on another
            // thread and comes back to the channel's loop: wait for that (bounded), then it is connected or closed.
            boolean requestRead = channel.pipeline().get(Socks5Handler.class) == null;
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (requestRead && channel.isOpen() && targets.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(1);
                channel.runPendingTasks();
            }
            channel.checkException();
            if (requestRead && channel.isOpen() && targets.isEmpty()) {
                throw new AssertionError("request read, but neither connected nor closed");
            }
            if (targets.size() > 1) {
                throw new AssertionError("connected twice: " + targets);
            }
            checkReplies(channel);
        } finally {
            channel.finishAndReleaseAll();
            for (ByteBuf piece : pieces) {
                if (piece.refCnt() != 0) {
                    throw new AssertionError("an input piece was not released");
                }
            }
        }
    }

    /** The bytes written back: a method selection (2 bytes), then at most one 10-byte reply. */
    private static void checkReplies(EmbeddedChannel channel) {
        ByteBuf out = Unpooled.buffer();
        try {
            ByteBuf b;
            while ((b = channel.readOutbound()) != null) {
                out.writeBytes(b);
                b.release();
            }
            if (out.readableBytes() == 0) {
                return;
            }
            if (out.readableBytes() < 2 || out.readByte() != 5) {
                throw new AssertionError("reply is not SOCKS5");
            }
            int method = out.readUnsignedByte();
            if (method == 0xFF) {
                if (out.isReadable()) {
                    throw new AssertionError("bytes after refusing every method");
                }
                return;
            }
            if (method != 0) {
                throw new AssertionError("selected method " + method);
            }
            if (out.readableBytes() != 0 && out.readableBytes() != 10) {
                throw new AssertionError("request reply of " + out.readableBytes() + " bytes");
            }
            if (out.readableBytes() == 10 && out.getByte(out.readerIndex()) != 5) {
                throw new AssertionError("request reply is not SOCKS5");
            }
        } finally {
            out.release();
        }
    }

    @AfterAll
    static void report() {
        log.atInfo()
                .addKeyValue("target", Socks5FuzzTest.class.getSimpleName())
                .addKeyValue("executions", executions.get())
                .log("fuzz target finished");
    }
}
