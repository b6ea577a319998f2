package io.ztunnel.core.dns;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DnsOpCode;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import io.ztunnel.core.proxy.LocalWorkload;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.core.state.Workload;
import io.ztunnel.core.util.Errors;
import io.ztunnel.core.util.LogSpan;
import io.ztunnel.metrics.DnsMetrics;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What one DNS server does with a message from its workload, whichever transport brought it:
 *
 * <ol>
 *   <li>Shorter than a header: dropped and counted. A response-type message: FORMERR. An opcode other than QUERY:
 *       NOTIMP. Not exactly one question, more than {@value #MAX_OTHER_RECORDS} other records, or anything Netty's
 *       decoder rejects (bad names, compression loops, truncation): FORMERR.
 *   <li>The client is the server's own workload, waited for up to 5 s; unknown: SERVFAIL.
 *   <li>{@link DnsResolver} answers from the state (authoritative, RA set, TTL 30 s, a CNAME first when a search
 *       domain was stripped), or the {@link DnsForwarder} asks upstream: its answers and additional records are copied
 *       (authority dropped, AA clear, RA set); "no records" gives an empty reply with the upstream's code; a failure
 *       gives SERVFAIL.
 *   <li>EDNS is echoed when the query had it (payload at least 512, same version, DO copied); the reply is cut to the
 *       transport's limit with TC set (UDP: the EDNS payload, or 4096 without EDNS; TCP: 65535).
 * </ol>
 *
 * At most {@value #MAX_PENDING} queries per server may wait (for the workload or upstream) at once; more are dropped
 * and counted, which bounds the memory and sockets one pod can hold.
 *
 * <p>Threading: {@link #handle} runs on the event loop of the channel the message came on; the reply is produced on
 * the same loop. Thread-safe (the pending count is shared by the server's UDP and TCP channels). Ownership: the
 * message stays the caller's; every reply buffer is handed to the reply callback, which owns it.
 */
final class DnsService {
    private static final Logger log = LoggerFactory.getLogger(DnsService.class);

    /** Queries of one server that may wait at once (for the workload or an upstream answer). */
    static final int MAX_PENDING = 256;
    /** Answer, authority and additional records a query may carry (OPT, a TSIG, a cookie fit). */
    static final int MAX_OTHER_RECORDS = 8;

    /** The transport a query came on, as the {@code request_protocol} label spells it. */
    enum Protocol {
        UDP("udp"),
        TCP("tcp");

        final String label;

        Protocol(String label) {
            this.label = label;
        }
    }

    private final DnsResolver resolver;
    private final DnsForwarder forwarder;
    private final DnsSockets sockets;
    private final LocalWorkload local;
    private final StateStore store;
    private final DnsTelemetry telemetry;
    private final AtomicInteger pending = new AtomicInteger();

    DnsService(
            DnsResolver resolver,
            DnsForwarder forwarder,
            DnsSockets sockets,
            LocalWorkload local,
            StateStore store,
            DnsTelemetry telemetry) {
        this.resolver = resolver;
        this.forwarder = forwarder;
        this.sockets = sockets;
        this.local = local;
        this.store = store;
        this.telemetry = telemetry;
    }

    LocalWorkload local() {
        return local;
    }

    DnsTelemetry telemetry() {
        return telemetry;
    }

    /** Queries waiting now (for tests and the server's logs). */
    int pending() {
        return pending.get();
    }

    /**
     * Handles one message. {@code reply} is called at most once, on {@code loop}, with the encoded reply (owned by the
     * callee); it is not called when the message is dropped.
     */
    void handle(
            ByteBuf message,
            Protocol protocol,
            InetSocketAddress sender,
            InetSocketAddress recipient,
            EventLoop loop,
            ByteBufAllocator alloc,
            Consumer<ByteBuf> reply) {
        DnsWire.Header header = DnsWire.header(message);
        if (header == null) {
            telemetry.metrics().dropped(DnsMetrics.DropReason.MALFORMED);
            log.atDebug()
                    .addKeyValue("from", sender)
                    .addKeyValue(LogSpan.KEY, local.dnsSpan())
                    .log("DNS message shorter than a header dropped");
            return;
        }
        if (header.isResponse()) {
            error(header, DnsResponseCode.FORMERR, alloc, reply);
            return;
        }
        if (header.opcode() != DnsOpCode.QUERY.byteValue()) {
            error(header, DnsResponseCode.NOTIMP, alloc, reply);
            return;
        }
        if (header.questions() != 1
                || header.answers() + header.authorities() + header.additionals() > MAX_OTHER_RECORDS) {
            error(header, DnsResponseCode.FORMERR, alloc, reply);
            return;
        }
        DnsQuestion question;
        DnsWire.Edns edns;
        DnsQuery query;
        try {
            query = DnsWire.decodeQuery(message, sender, recipient);
        } catch (Exception | StackOverflowError e) {
            log.atDebug()
                    .addKeyValue("from", sender)
                    .addKeyValue("error", Errors.message(e))
                    .addKeyValue(LogSpan.KEY, local.dnsSpan())
                    .log("malformed DNS query");
            error(header, DnsResponseCode.FORMERR, alloc, reply);
            return;
        }
        try {
            question = query.recordAt(DnsSection.QUESTION, 0);
            edns = DnsWire.Edns.of(query);
        } finally {
            query.release();
        }
        Request request = new Request(
                header,
                question,
                edns,
                protocol,
                protocol == Protocol.UDP ? DnsWire.udpLimit(edns) : DnsWire.TCP_LIMIT);
        CompletableFuture<Workload> client = local.get();
        if (client.isDone()) {
            lookup(request, client.getNow(null), false, loop, alloc, reply);
            return;
        }
        if (!acquire()) {
            return;
        }
        client.whenCompleteAsync((w, error) -> lookup(request, w, true, loop, alloc, reply), loop);
    }

    /** The parts of a query the lookup needs (no buffers). */
    private record Request(
            DnsWire.Header header, DnsQuestion question, DnsWire.@Nullable Edns edns, Protocol protocol, int limit) {
        DnsWire.@Nullable Edns responseEdns() {
            return edns == null ? null : edns.forResponse();
        }
    }

    private boolean acquire() {
        if (pending.incrementAndGet() > MAX_PENDING) {
            pending.decrementAndGet();
            telemetry.metrics().dropped(DnsMetrics.DropReason.OVERLOAD);
            return false;
        }
        return true;
    }

    private void lookup(
            Request request,
            @Nullable Workload client,
            boolean holding,
            EventLoop loop,
            ByteBufAllocator alloc,
            Consumer<ByteBuf> reply) {
        DnsQuestion q = request.question();
        if (client == null) {
            release(holding);
            log.atDebug()
                    .addKeyValue("workload", local.info())
                    .addKeyValue(LogSpan.KEY, local.dnsSpan())
                    .log("DNS query from an unknown workload");
            telemetry.metrics().request(DnsTelemetry.labels(null, q, request.protocol().label));
            send(
                    DnsWire.Reply.empty(request.header(), DnsResponseCode.SERVFAIL, q, request.responseEdns(), false),
                    request.limit(),
                    alloc,
                    reply);
            return;
        }
        DnsMetrics.Labels labels = DnsTelemetry.labels(client, q, request.protocol().label);
        DnsResolver.Result result =
                resolver.resolve(store.current(), client, q.name(), q.type().intValue());
        telemetry.metrics().request(labels);
        if (result instanceof DnsResolver.Local answer) {
            release(holding);
            local(request, client, answer, alloc, reply);
            return;
        }
        if (!holding && !acquire()) {
            return;
        }
        telemetry.metrics().upstreamRequest(labels);
        long start = System.nanoTime();
        forwarder.forward(q.name(), q.type(), loop, sockets).whenComplete((outcome, error) -> {
            release(true);
            telemetry.metrics().upstreamDuration(labels, System.nanoTime() - start);
            if (outcome == null) {
                outcome = new DnsForwarder.Failure(error == null ? "no answer" : Errors.message(error));
            }
            forwarded(request, client, labels, outcome, alloc, reply);
        });
    }

    private void release(boolean holding) {
        if (holding) {
            pending.decrementAndGet();
        }
    }

    private void local(
            Request request,
            Workload client,
            DnsResolver.Local answer,
            ByteBufAllocator alloc,
            Consumer<ByteBuf> reply) {
        DnsQuestion q = request.question();
        List<DnsRecord> records = new ArrayList<>(answer.addresses().size() + 1);
        if (!answer.addresses().isEmpty() && answer.cnameFrom() != null) {
            records.add(new DefaultDnsRawRecord(
                    answer.cnameFrom(),
                    DnsRecordType.CNAME,
                    q.dnsClass(),
                    DnsWire.LOCAL_TTL,
                    DnsWire.nameRdata(answer.owner())));
        }
        DnsTelemetry.access(client, q, answer.logResult(), records.size());
        for (InetAddress ip : answer.addresses()) {
            records.add(new DefaultDnsRawRecord(
                    answer.owner(),
                    ip instanceof Inet4Address ? DnsRecordType.A : DnsRecordType.AAAA,
                    q.dnsClass(),
                    DnsWire.LOCAL_TTL,
                    Unpooled.wrappedBuffer(ip.getAddress())));
        }
        DnsWire.Header h = request.header();
        send(
                new DnsWire.Reply(
                        h.id(),
                        DnsOpCode.QUERY,
                        DnsResponseCode.NOERROR,
                        true,
                        true,
                        h.recursionDesired(),
                        h.checkingDisabledZ(),
                        q,
                        records,
                        List.of(),
                        request.responseEdns()),
                request.limit(),
                alloc,
                reply);
    }

    private void forwarded(
            Request request,
            Workload client,
            DnsMetrics.Labels labels,
            DnsForwarder.Outcome outcome,
            ByteBufAllocator alloc,
            Consumer<ByteBuf> reply) {
        DnsQuestion q = request.question();
        DnsWire.Header h = request.header();
        switch (outcome) {
            case DnsForwarder.Answer answer -> {
                DnsTelemetry.access(client, q, "forwarded", answer.answers().size());
                send(
                        new DnsWire.Reply(
                                h.id(),
                                DnsOpCode.QUERY,
                                DnsResponseCode.NOERROR,
                                false,
                                true,
                                h.recursionDesired(),
                                h.checkingDisabledZ(),
                                q,
                                answer.answers(),
                                answer.additionals(),
                                request.responseEdns()),
                        request.limit(),
                        alloc,
                        reply);
            }
            case DnsForwarder.NoRecords none -> {
                telemetry.metrics().upstreamFailure(labels);
                DnsTelemetry.access(client, q, "forwarding failed (no records found, " + none.code() + ")", 0);
                send(
                        DnsWire.Reply.empty(h, none.code(), q, request.responseEdns(), false),
                        request.limit(),
                        alloc,
                        reply);
            }
            case DnsForwarder.Failure failure -> {
                telemetry.metrics().upstreamFailure(labels);
                DnsTelemetry.access(client, q, "forwarding failed (" + failure.reason() + ")", 0);
                log.atDebug()
                        .addKeyValue("domain", q.name())
                        .addKeyValue("error", failure.reason())
                        .addKeyValue(LogSpan.KEY, local.dnsSpan())
                        .log("DNS forwarding failed");
                send(
                        DnsWire.Reply.empty(h, DnsResponseCode.SERVFAIL, q, request.responseEdns(), false),
                        request.limit(),
                        alloc,
                        reply);
            }
        }
    }

    private void error(DnsWire.Header header, DnsResponseCode code, ByteBufAllocator alloc, Consumer<ByteBuf> reply) {
        send(DnsWire.Reply.empty(header, code, null, null, false), DnsWire.UDP_LIMIT_WITHOUT_EDNS, alloc, reply);
    }

    private static void send(DnsWire.Reply r, int limit, ByteBufAllocator alloc, Consumer<ByteBuf> reply) {
        ByteBuf encoded;
        try {
            encoded = DnsWire.encode(r, limit, alloc);
        } finally {
            r.release();
        }
        reply.accept(encoded);
    }
}
