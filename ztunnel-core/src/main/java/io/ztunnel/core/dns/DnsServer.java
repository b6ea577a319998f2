package io.ztunnel.core.dns;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.socket.DatagramPacket;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.LengthFieldPrepender;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.ztunnel.core.util.Errors;
import io.ztunnel.core.util.LogSpan;
import io.ztunnel.metrics.DnsMetrics;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The DNS server of one workload: UDP and TCP listeners on each listen address (127.0.0.1, and ::1 where IPv6 works
 * on {@code lo}, both on 15053 by default), created where the workload's {@link DnsSockets} say (inside the pod's
 * network namespace in shared mode), all answering through one {@link DnsService}.
 *
 * <p>Limits per server: TCP connections ({@value #MAX_TCP_CONNECTIONS}; more are closed at once and counted), a TCP
 * message at most {@value #MAX_TCP_QUERY} bytes (a longer length prefix closes the connection and is counted), a TCP
 * connection with nothing pending closed after 5 s without a query (upstream's TCP request timeout), UDP replies
 * dropped and counted while the socket cannot take more.
 *
 * <p>Lifecycle: {@link #start} binds everything or nothing (it throws naming the address that failed); {@link #close}
 * closes the listeners and every open TCP connection. Thread-safe. The handlers run on the data-plane event loop of
 * their channel.
 */
public final class DnsServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DnsServer.class);

    static final int MAX_TCP_CONNECTIONS = 64;
    static final int MAX_TCP_QUERY = 4096;
    static final Duration TCP_REQUEST_TIMEOUT = Duration.ofSeconds(5);
    /** UDP read buffer: a query longer than this is cut by the kernel and then fails to decode (FORMERR). */
    static final int UDP_BUFFER = 4096;

    private final DnsService service;
    private final List<Channel> listeners = new ArrayList<>();
    private final ChannelGroup connections = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
    private final AtomicInteger tcpConnections = new AtomicInteger();

    private DnsServer(DnsService service) {
        this.service = service;
    }

    /** Binds UDP and TCP on every address; on failure closes what was bound and throws. */
    static DnsServer start(
            DnsService service, DnsSockets sockets, EventLoopGroup group, List<InetSocketAddress> addresses) {
        DnsServer server = new DnsServer(service);
        try {
            for (InetSocketAddress address : addresses) {
                server.bind(sockets, group, address);
            }
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
        log.atInfo()
                .addKeyValue("workload", service.local().info())
                .addKeyValue("addresses", server.addresses())
                .addKeyValue("where", sockets.description())
                .addKeyValue(LogSpan.KEY, service.local().dnsSpan())
                .log("DNS proxy started");
        return server;
    }

    private void bind(DnsSockets sockets, EventLoopGroup group, InetSocketAddress address) {
        // With port 0 (tests) the UDP socket picks the port and TCP must get the same one, which another TCP socket
        // may hold: then try another port.
        int tries = address.getPort() == 0 ? 5 : 1;
        for (int i = 1; ; i++) {
            Channel udp = bindUdp(sockets, group, address);
            InetSocketAddress bound =
                    new InetSocketAddress(address.getAddress(), ((InetSocketAddress) udp.localAddress()).getPort());
            ChannelFuture tcp = new ServerBootstrap()
                    .group(group)
                    .channelFactory(sockets.tcpServer())
                    .option(ChannelOption.SO_BACKLOG, 128)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childHandler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            accepted(ch);
                        }
                    })
                    .bind(bound)
                    .awaitUninterruptibly();
            if (!tcp.isSuccess() && i < tries) {
                udp.close().awaitUninterruptibly();
                continue;
            }
            listeners.add(udp);
            check(tcp, "TCP", bound);
            listeners.add(tcp.channel());
            return;
        }
    }

    private Channel bindUdp(DnsSockets sockets, EventLoopGroup group, InetSocketAddress address) {
        ChannelFuture udp = new Bootstrap()
                .group(group)
                .channelFactory(sockets.udpServer())
                .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(UDP_BUFFER))
                .handler(new UdpHandler())
                .bind(address)
                .awaitUninterruptibly();
        check(udp, "UDP", address);
        return udp.channel();
    }

    private void check(ChannelFuture bound, String protocol, InetSocketAddress address) {
        if (!bound.isSuccess()) {
            throw new IllegalStateException(
                    "cannot listen for DNS on " + protocol + " " + address + " for "
                            + service.local().info() + ": " + Errors.message(bound.cause()),
                    bound.cause());
        }
    }

    private void accepted(Channel ch) {
        if (tcpConnections.incrementAndGet() > MAX_TCP_CONNECTIONS) {
            tcpConnections.decrementAndGet();
            service.telemetry().metrics().dropped(DnsMetrics.DropReason.TOO_MANY_CONNECTIONS);
            ch.close();
            return;
        }
        ch.closeFuture().addListener(f -> tcpConnections.decrementAndGet());
        connections.add(ch);
        ch.pipeline()
                .addLast(new IdleStateHandler(TCP_REQUEST_TIMEOUT.toMillis(), 0, 0, TimeUnit.MILLISECONDS))
                .addLast(new LengthFieldPrepender(2))
                .addLast(new LengthFieldBasedFrameDecoder(MAX_TCP_QUERY, 0, 2, 0, 2))
                .addLast(new TcpHandler());
    }

    /** The bound addresses (UDP and TCP share each). */
    public List<InetSocketAddress> addresses() {
        List<InetSocketAddress> out = new ArrayList<>();
        for (Channel c : listeners) {
            InetSocketAddress a = (InetSocketAddress) c.localAddress();
            if (a != null && !out.contains(a)) {
                out.add(a);
            }
        }
        return out;
    }

    /** The service answering for this server. */
    DnsService service() {
        return service;
    }

    @Override
    public void close() {
        for (Channel c : listeners) {
            c.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        }
        listeners.clear();
        connections.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
    }

    /** The listen addresses for a localhost setting: 127.0.0.1, and ::1 when IPv6 is on and works on {@code lo}. */
    static List<InetSocketAddress> localhost(int port, boolean ipv6) {
        List<InetSocketAddress> out = new ArrayList<>();
        out.add(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        if (ipv6) {
            out.add(new InetSocketAddress(InetAddress.ofLiteral("::1"), port));
        }
        return out;
    }

    /**
     * Queries over UDP: one reply datagram per query, to its sender. Threading: the UDP channel's event loop. The
     * received packet is released by the base class; replies are released by the channel once written, or here when
     * the socket cannot take them.
     */
    private final class UdpHandler extends SimpleChannelInboundHandler<DatagramPacket> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket packet) {
            Channel ch = ctx.channel();
            InetSocketAddress sender = packet.sender();
            service.handle(
                    packet.content(),
                    DnsService.Protocol.UDP,
                    sender,
                    packet.recipient() != null ? packet.recipient() : (InetSocketAddress) ch.localAddress(),
                    ch.eventLoop(),
                    ctx.alloc(),
                    reply -> {
                        if (!ch.isActive() || !ch.isWritable()) {
                            reply.release();
                            service.telemetry().metrics().dropped(DnsMetrics.DropReason.OVERLOAD);
                            return;
                        }
                        ch.writeAndFlush(new DatagramPacket(reply, sender));
                    });
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // A UDP socket reports ICMP errors from earlier replies here; the socket itself stays usable.
            log.atDebug()
                    .addKeyValue("error", Errors.message(cause))
                    .addKeyValue(LogSpan.KEY, service.local().dnsSpan())
                    .log("DNS UDP socket error");
        }
    }

    /**
     * Queries over TCP (2-byte length prefixes, framed by Netty's decoder): replies in completion order; reads pause
     * while the connection cannot take more replies. Threading: the connection's event loop. Each frame is released by
     * the base class; replies go to the channel.
     */
    private final class TcpHandler extends SimpleChannelInboundHandler<ByteBuf> {
        private int pendingHere;

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, ByteBuf frame) {
            Channel ch = ctx.channel();
            pendingHere++;
            service.handle(
                    frame,
                    DnsService.Protocol.TCP,
                    (InetSocketAddress) ch.remoteAddress(),
                    (InetSocketAddress) ch.localAddress(),
                    ch.eventLoop(),
                    ctx.alloc(),
                    reply -> {
                        pendingHere--;
                        if (!ch.isActive()) {
                            reply.release();
                            return;
                        }
                        ch.writeAndFlush(reply);
                        if (!ch.isWritable()) {
                            ch.config().setAutoRead(false);
                        }
                    });
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (ctx.channel().isWritable()) {
                ctx.channel().config().setAutoRead(true);
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (!(evt instanceof IdleStateEvent)) {
                ctx.fireUserEventTriggered(evt);
            } else if (pendingHere == 0) {
                ctx.close(); // no query for 5 s and nothing to answer
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (cause instanceof TooLongFrameException || cause.getCause() instanceof TooLongFrameException) {
                service.telemetry().metrics().dropped(DnsMetrics.DropReason.OVERSIZED);
            }
            log.atDebug()
                    .addKeyValue("error", Errors.message(cause))
                    .addKeyValue(LogSpan.KEY, service.local().dnsSpan())
                    .log("DNS TCP connection closed on error");
            ctx.close();
        }
    }
}
