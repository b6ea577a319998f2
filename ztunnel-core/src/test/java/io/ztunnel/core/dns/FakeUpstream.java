package io.ztunnel.core.dns;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.nio.NioDatagramChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryDecoder;
import io.netty.handler.codec.dns.DatagramDnsResponse;
import io.netty.handler.codec.dns.DatagramDnsResponseEncoder;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DefaultDnsResponse;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import io.netty.handler.codec.dns.TcpDnsQueryDecoder;
import io.netty.handler.codec.dns.TcpDnsResponseEncoder;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An upstream resolver for tests, on 127.0.0.1 (UDP and TCP, same port), built on Netty's DNS codec. Names:
 * {@code ext.example} (A 203.0.113.7, an NS authority record and an A additional record), {@code mx.example} (MX with
 * a compressed exchange name), {@code big.example} (100 A records; over UDP only a truncated empty reply),
 * {@code nx.example} (NXDOMAIN), {@code fail.example} (SERVFAIL), {@code slow.example} (never answers); anything else
 * is an empty NOERROR. Counts the queries it saw per transport. Threading: its own event loops; the counters are
 * thread-safe.
 */
final class FakeUpstream implements AutoCloseable {
    final AtomicInteger udpQueries = new AtomicInteger();
    final AtomicInteger tcpQueries = new AtomicInteger();
    final List<String> seen = new CopyOnWriteArrayList<>();
    private final Channel udp;
    private final Channel tcp;

    FakeUpstream(EventLoopGroup group) throws InterruptedException {
        // UDP takes a free port, TCP the same number; another process may hold that TCP port, so try a few.
        Channel u;
        ChannelFuture t;
        for (int attempt = 1; ; attempt++) {
            u = bindUdp(group);
            t = bindTcp(group, ((InetSocketAddress) u.localAddress()).getPort()).await();
            if (t.isSuccess()) {
                break;
            }
            u.close().sync();
            if (attempt == 10) {
                throw new IllegalStateException("no port free for both UDP and TCP", t.cause());
            }
        }
        udp = u;
        tcp = t.channel();
    }

    private Channel bindUdp(EventLoopGroup group) throws InterruptedException {
        return new Bootstrap()
                .group(group)
                .channel(NioDatagramChannel.class)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline()
                                .addLast(
                                        new DatagramDnsQueryDecoder(),
                                        new DatagramDnsResponseEncoder(),
                                        new Answer(true));
                    }
                })
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .sync()
                .channel();
    }

    private ChannelFuture bindTcp(EventLoopGroup group, int port) {
        return new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new TcpDnsQueryDecoder(), new TcpDnsResponseEncoder(), new Answer(false));
                    }
                })
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
    }

    InetSocketAddress address() {
        return (InetSocketAddress) udp.localAddress();
    }

    @Override
    public void close() {
        udp.close().syncUninterruptibly();
        tcp.close().syncUninterruptibly();
    }

    /** Builds the answer for one query. Threading: the channel's loop. */
    private final class Answer extends SimpleChannelInboundHandler<DnsQuery> {
        private final boolean overUdp;

        Answer(boolean overUdp) {
            this.overUdp = overUdp;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, DnsQuery query) {
            (overUdp ? udpQueries : tcpQueries).incrementAndGet();
            DnsQuestion q = query.recordAt(DnsSection.QUESTION, 0);
            seen.add(q.name() + " " + q.type().name() + (query.isRecursionDesired() ? " rd" : ""));
            String name = q.name();
            if (name.equals("slow.example.")) {
                return;
            }
            DnsResponseCode code = switch (name) {
                case "nx.example." -> DnsResponseCode.NXDOMAIN;
                case "fail.example." -> DnsResponseCode.SERVFAIL;
                default -> DnsResponseCode.NOERROR;
            };
            DnsResponse r = overUdp
                    ? new DatagramDnsResponse(
                            (InetSocketAddress) ctx.channel().localAddress(),
                            ((DatagramDnsQuery) query).sender(),
                            query.id(),
                            query.opCode(),
                            code)
                    : new DefaultDnsResponse(query.id(), query.opCode(), code);
            r.setRecursionAvailable(true).setRecursionDesired(query.isRecursionDesired());
            r.addRecord(DnsSection.QUESTION, q);
            switch (name) {
                case "ext.example." -> {
                    r.addRecord(DnsSection.ANSWER, a(name, "203.0.113.7"));
                    r.addRecord(
                            DnsSection.AUTHORITY,
                            new DefaultDnsRawRecord(
                                    "example.", DnsRecordType.NS, 60, DnsWire.nameRdata("ns.example.")));
                    r.addRecord(DnsSection.ADDITIONAL, a("ns.example.", "203.0.113.53"));
                }
                case "mx.example." -> {
                    // 10, "mail" + a pointer to the question name at offset 12
                    byte[] data = {0, 10, 4, 'm', 'a', 'i', 'l', (byte) 0xc0, 12};
                    r.addRecord(
                            DnsSection.ANSWER,
                            new DefaultDnsRawRecord(name, DnsRecordType.MX, 60, Unpooled.wrappedBuffer(data)));
                }
                case "big.example." -> {
                    if (overUdp) {
                        r.setTruncated(true);
                    } else {
                        for (int i = 0; i < 100; i++) {
                            r.addRecord(DnsSection.ANSWER, a(name, "10.77." + (i / 200) + "." + (i % 200 + 1)));
                        }
                    }
                }
                default -> {}
            }
            ctx.writeAndFlush(r);
        }
    }

    private static DefaultDnsRawRecord a(String name, String ip) {
        return new DefaultDnsRawRecord(
                name,
                DnsRecordType.A,
                60,
                Unpooled.wrappedBuffer(InetAddress.ofLiteral(ip).getAddress()));
    }
}
