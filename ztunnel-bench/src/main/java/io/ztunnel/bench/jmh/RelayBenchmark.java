package io.ztunnel.bench.jmh;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.DefaultEventLoopGroup;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.local.LocalAddress;
import io.netty.channel.local.LocalChannel;
import io.netty.channel.local.LocalServerChannel;
import io.ztunnel.core.net.ConnectionObserver;
import io.ztunnel.core.net.Relay;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The relay's copy path alone: an "app" channel writes {@code chunk}-byte buffers into a downstream channel whose
 * {@link Relay} copies them to an upstream channel, read by a sink; all on one event loop over Netty's in-memory
 * {@code LocalChannel}, so no kernel copies and no TLS are counted, only the relay's per-read work (handler dispatch,
 * backpressure bookkeeping, flush per read loop, the observer's byte accounting). Each invocation pushes 1 MiB and
 * waits until the sink has it; the score is per chunk.
 */
@Fork(
        value = 1,
        jvmArgsAppend = {"-XX:+UseCompactObjectHeaders", "-Xmx1g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class RelayBenchmark {
    private static final int TOTAL = 1 << 20;

    @Param({"16384"})
    public int chunk;

    private EventLoopGroup loop;
    private Channel app;
    private Channel sinkServer;
    private Channel relayServer;
    private ByteBuf payload;
    private final AtomicLong sunk = new AtomicLong();
    private volatile @Nullable CompletableFuture<Void> done;
    private volatile long target;

    @Setup(Level.Trial)
    public void setup() throws Exception {
        loop = new DefaultEventLoopGroup(1);
        LocalAddress sinkAddress = new LocalAddress("relay-bench-sink");
        LocalAddress relayAddress = new LocalAddress("relay-bench-in");
        sinkServer = new ServerBootstrap()
                .group(loop)
                .channel(LocalServerChannel.class)
                .childHandler(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelRead(ChannelHandlerContext ctx, Object msg) {
                        long n = sunk.addAndGet(((ByteBuf) msg).readableBytes());
                        ((ByteBuf) msg).release();
                        CompletableFuture<Void> d = done;
                        if (d != null && n >= target) {
                            d.complete(null);
                        }
                    }
                })
                .bind(sinkAddress)
                .sync()
                .channel();
        relayServer = new ServerBootstrap()
                .group(loop)
                .channel(LocalServerChannel.class)
                .childOption(ChannelOption.AUTO_READ, false)
                .childHandler(new ChannelInitializer<LocalChannel>() {
                    @Override
                    protected void initChannel(LocalChannel downstream) {
                        new Bootstrap()
                                .group(downstream.eventLoop())
                                .channel(LocalChannel.class)
                                .option(ChannelOption.AUTO_READ, false)
                                .handler(new ChannelInboundHandlerAdapter())
                                .connect(sinkAddress)
                                .addListener(f -> {
                                    Channel upstream = ((ChannelFuture) f).channel();
                                    Relay.start(downstream, upstream, new ConnectionObserver() {
                                        long received;

                                        @Override
                                        public void bytes(long r, long s) {
                                            received += r;
                                        }
                                    });
                                });
                    }
                })
                .bind(relayAddress)
                .sync()
                .channel();
        app = new Bootstrap()
                .group(loop)
                .channel(LocalChannel.class)
                .handler(new ChannelInboundHandlerAdapter())
                .connect(relayAddress)
                .sync()
                .channel();
        payload = PooledByteBufAllocator.DEFAULT.directBuffer(chunk).writeZero(chunk);
        Thread.sleep(100); // the relay's upstream connect
    }

    @Benchmark
    @OperationsPerInvocation(TOTAL / 16384)
    public void copy1MiB() throws Exception {
        CompletableFuture<Void> d = new CompletableFuture<>();
        target = sunk.get() + TOTAL;
        done = d;
        loop.execute(() -> {
            for (int sent = 0; sent < TOTAL; sent += chunk) {
                app.write(payload.retainedDuplicate());
            }
            app.flush();
            if (sunk.get() >= target) {
                d.complete(null);
            }
        });
        d.get(10, TimeUnit.SECONDS);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        app.close().sync();
        relayServer.close().sync();
        sinkServer.close().sync();
        payload.release();
        loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
}
