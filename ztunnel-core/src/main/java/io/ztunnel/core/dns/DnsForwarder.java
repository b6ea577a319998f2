package io.ztunnel.core.dns;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryEncoder;
import io.netty.handler.codec.dns.DatagramDnsResponseDecoder;
import io.netty.handler.codec.dns.DefaultDnsQuery;
import io.netty.handler.codec.dns.DefaultDnsQuestion;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import io.netty.handler.codec.dns.TcpDnsQueryEncoder;
import io.netty.handler.codec.dns.TcpDnsResponseDecoder;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import io.ztunnel.core.util.Errors;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;

/**
 * Resolves a name and type with the upstream resolvers of the daemon's own {@code resolv.conf} (its search list
 * removed), as Istio's ztunnel does: a fresh query (new id, RD set, class IN) is sent over UDP from a new socket
 * connected to the server, and again over TCP when the UDP answer is truncated. A server that times out, fails or
 * answers anything but NOERROR/NXDOMAIN makes the next one (then the next round, {@code attempts} rounds) be tried.
 * In a pod, the sockets live in the pod's namespace, marked so that the pod's rules let them through.
 *
 * <p>Threading: {@link #forward} is called on an event loop; everything of one lookup (sockets, timers, the returned
 * future's completion) happens on that loop. Ownership: the records of an {@link Answer} are the caller's to release.
 */
final class DnsForwarder {
    /** TCP connect timeout to an upstream server (upstream's). */
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
    /** The EDNS payload advertised upstream with {@code options edns0}. */
    static final int EDNS_PAYLOAD = 1232;

    private static final int UDP_RECEIVE_BUFFER = 65_535;

    /** How a forwarded lookup ended. */
    sealed interface Outcome permits Answer, NoRecords, Failure {}

    /** Records to copy into the reply (owned: release them). */
    record Answer(List<DnsRecord> answers, List<DnsRecord> additionals) implements Outcome {
        void release() {
            answers.forEach(ReferenceCountUtil::release);
            additionals.forEach(ReferenceCountUtil::release);
        }
    }

    /** The name has no records of the type: NXDOMAIN, or NOERROR for NODATA. */
    record NoRecords(DnsResponseCode code) implements Outcome {}

    /** No usable answer from any server. */
    record Failure(String reason) implements Outcome {}

    private final ResolvConf conf;

    DnsForwarder(ResolvConf conf) {
        this.conf = conf;
    }

    ResolvConf conf() {
        return conf;
    }

    /** Resolves {@code name} ({@code type}, class IN) upstream; the future completes on {@code loop}. */
    CompletableFuture<Outcome> forward(String name, DnsRecordType type, EventLoop loop, DnsSockets sockets) {
        CompletableFuture<Outcome> result = new CompletableFuture<>();
        if (conf.nameservers().isEmpty()) {
            result.complete(new Failure("no nameserver in " + ResolvConf.SYSTEM));
            return result;
        }
        new Lookup(new DefaultDnsQuestion(name, type), loop, sockets, result).next();
        return result;
    }

    /** One upstream server's reply, owned until handed on. */
    private record Reply(
            DnsResponseCode code, boolean truncated, List<DnsRecord> answers, List<DnsRecord> additionals) {
        static Reply of(DnsResponse response) {
            List<DnsRecord> answers = new ArrayList<>();
            List<DnsRecord> additionals = new ArrayList<>();
            for (int i = 0; i < response.count(DnsSection.ANSWER); i++) {
                answers.add(ReferenceCountUtil.retain(response.<DnsRecord>recordAt(DnsSection.ANSWER, i)));
            }
            for (int i = 0; i < response.count(DnsSection.ADDITIONAL); i++) {
                DnsRecord r = response.recordAt(DnsSection.ADDITIONAL, i);
                if (r.type() != DnsRecordType.OPT) {
                    additionals.add(ReferenceCountUtil.retain(r));
                }
            }
            return new Reply(response.code(), response.isTruncated(), answers, additionals);
        }

        void release() {
            answers.forEach(ReferenceCountUtil::release);
            additionals.forEach(ReferenceCountUtil::release);
        }
    }

    /** The servers tried in turn for one lookup. Confined to its event loop. */
    private final class Lookup {
        private final DnsQuestion question;
        private final EventLoop loop;
        private final DnsSockets sockets;
        private final CompletableFuture<Outcome> result;
        private int server;
        private int round;
        private String lastError = "no answer";

        Lookup(DnsQuestion question, EventLoop loop, DnsSockets sockets, CompletableFuture<Outcome> result) {
            this.question = question;
            this.loop = loop;
            this.sockets = sockets;
            this.result = result;
        }

        void next() {
            if (round >= conf.attempts()) {
                result.complete(new Failure(lastError));
                return;
            }
            InetSocketAddress target = conf.nameservers().get(server);
            exchange(
                    target,
                    false,
                    reply -> {
                        if (reply.truncated()) {
                            reply.release();
                            exchange(target, true, tcp -> conclude(target, tcp), error -> failed(target, error));
                        } else {
                            conclude(target, reply);
                        }
                    },
                    error -> failed(target, error));
        }

        private void conclude(InetSocketAddress target, Reply reply) {
            if (reply.code().equals(DnsResponseCode.NOERROR) && !reply.answers().isEmpty()) {
                result.complete(new Answer(reply.answers(), reply.additionals()));
                return;
            }
            reply.release();
            if (reply.code().equals(DnsResponseCode.NOERROR) || reply.code().equals(DnsResponseCode.NXDOMAIN)) {
                result.complete(new NoRecords(reply.code()));
                return;
            }
            failed(target, "answered " + reply.code());
        }

        private void failed(InetSocketAddress target, String error) {
            lastError = "upstream " + target.getAddress().getHostAddress() + ": " + error;
            if (++server == conf.nameservers().size()) {
                server = 0;
                round++;
            }
            next();
        }

        /** One query to one server, over UDP or TCP; exactly one of the callbacks runs, on the loop. */
        private void exchange(InetSocketAddress target, boolean tcp, Consumer<Reply> ok, Consumer<String> error) {
            int id = ThreadLocalRandom.current().nextInt(0x10000);
            Exchange exchange = new Exchange(id, question, ok, error);
            Bootstrap bootstrap = new Bootstrap().group(loop).handler(new ChannelInitializer<Channel>() {
                @Override
                protected void initChannel(Channel ch) {
                    if (tcp) {
                        ch.pipeline()
                                .addLast(new TcpDnsQueryEncoder())
                                .addLast(new TcpDnsResponseDecoder(DnsWire.UPSTREAM_RECORDS, DnsWire.TCP_LIMIT));
                    } else {
                        ch.pipeline()
                                .addLast(new DatagramDnsQueryEncoder())
                                .addLast(new DatagramDnsResponseDecoder(DnsWire.UPSTREAM_RECORDS));
                    }
                    ch.pipeline().addLast(exchange);
                }
            });
            if (tcp) {
                ChannelFactory<? extends Channel> factory = sockets.tcpClient();
                bootstrap.channelFactory(factory).option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int)
                        CONNECT_TIMEOUT.toMillis());
            } else {
                ChannelFactory<? extends Channel> factory = sockets.udpClient();
                bootstrap
                        .channelFactory(factory)
                        .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(UDP_RECEIVE_BUFFER));
            }
            ChannelFuture connect = bootstrap.connect(target);
            exchange.timeout = loop.schedule(
                    () -> exchange.fail(
                            connect.channel(),
                            "no answer within " + conf.timeout().toMillis() + " ms"),
                    conf.timeout().toMillis(),
                    TimeUnit.MILLISECONDS);
            connect.addListener((ChannelFuture f) -> {
                if (!f.isSuccess()) {
                    exchange.fail(f.channel(), Errors.message(f.cause()));
                    return;
                }
                f.channel().writeAndFlush(query(id, target, tcp)).addListener((ChannelFuture w) -> {
                    if (!w.isSuccess()) {
                        exchange.fail(w.channel(), Errors.message(w.cause()));
                    }
                });
            });
        }

        private DnsQuery query(int id, InetSocketAddress target, boolean tcp) {
            DnsQuery q = tcp ? new DefaultDnsQuery(id) : new DatagramDnsQuery(null, target, id);
            q.setRecursionDesired(true);
            q.addRecord(DnsSection.QUESTION, question);
            if (conf.edns0()) {
                q.addRecord(DnsSection.ADDITIONAL, new DnsWire.Edns(EDNS_PAYLOAD, 0, false).toRecord());
            }
            return q;
        }
    }

    /**
     * Waits for the answer to one query on one channel, ignoring answers that do not match it (id, question).
     * Threading: the channel's event loop.
     */
    private static final class Exchange extends SimpleChannelInboundHandler<DnsResponse> {
        private final int id;
        private final DnsQuestion question;
        private final Consumer<Reply> ok;
        private final Consumer<String> error;
        private boolean done;
        private @Nullable ScheduledFuture<?> timeout;

        Exchange(int id, DnsQuestion question, Consumer<Reply> ok, Consumer<String> error) {
            this.id = id;
            this.question = question;
            this.ok = ok;
            this.error = error;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, DnsResponse response) {
            if (done || response.id() != id || !matches(response)) {
                return; // late, stray or spoofed: keep waiting for ours
            }
            finish(ctx.channel());
            ok.accept(Reply.of(response));
        }

        private boolean matches(DnsResponse response) {
            if (response.count(DnsSection.QUESTION) != 1) {
                return false;
            }
            DnsQuestion q = response.recordAt(DnsSection.QUESTION, 0);
            return q.type().equals(question.type()) && q.name().equalsIgnoreCase(question.name());
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(ctx.channel(), "bad answer: " + Errors.message(cause));
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            fail(ctx.channel(), "connection closed before the answer");
        }

        void fail(Channel channel, String reason) {
            if (done) {
                return;
            }
            finish(channel);
            error.accept(reason);
        }

        private void finish(Channel channel) {
            done = true;
            if (timeout != null) {
                timeout.cancel(false);
            }
            channel.close();
        }
    }
}
