package io.ztunnel.core.dns;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.AddressedEnvelope;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.socket.DatagramPacket;
import io.netty.handler.codec.dns.DatagramDnsQueryDecoder;
import io.netty.handler.codec.dns.DatagramDnsResponse;
import io.netty.handler.codec.dns.DatagramDnsResponseEncoder;
import io.netty.handler.codec.dns.DefaultDnsRawRecord;
import io.netty.handler.codec.dns.DefaultDnsRecordDecoder;
import io.netty.handler.codec.dns.DefaultDnsRecordEncoder;
import io.netty.handler.codec.dns.DnsOpCode;
import io.netty.handler.codec.dns.DnsQuery;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRawRecord;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponse;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import io.netty.util.ReferenceCountUtil;
import io.ztunnel.core.util.Errors;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Glue between the proxy and Netty's DNS codec ({@code netty-codec-dns}), which does the parsing and encoding:
 *
 * <ul>
 *   <li>{@link #header}: the fixed 12-byte header, read before decoding so that a response-type message can be
 *       answered FORMERR and a non-QUERY opcode NOTIMP (Netty's query decoder rejects both without saying which),
 *       and so that absurd record counts are refused before any name is decoded;
 *   <li>{@link #decodeQuery}: Netty's query decoder, called on one message;
 *   <li>{@link #encode}: Netty's response encoder with DNS name compression, cutting records off the end (and setting
 *       TC) when the message is over the transport's limit;
 *   <li>{@link #UPSTREAM_RECORDS}: Netty's record decoder extended to expand compressed names inside the data of
 *       MX, SRV, SOA and similar records, so that an upstream answer can be written into a new message.
 * </ul>
 *
 * <p>Stateless and thread-safe; encoders are created per message (they hold the compression table).
 */
final class DnsWire {
    static final int HEADER_BYTES = 12;
    /** TTL of every locally answered record, as upstream. */
    static final long LOCAL_TTL = 30;
    /** The largest message over TCP. */
    static final int TCP_LIMIT = 65535;
    /** The UDP limit when the query had no EDNS (upstream's library uses this, not RFC 1035's 512). */
    static final int UDP_LIMIT_WITHOUT_EDNS = 4096;

    private static final InetSocketAddress NOWHERE = new InetSocketAddress(0);
    private static final QueryDecoder QUERY_DECODER = new QueryDecoder();

    private DnsWire() {}

    /** The fixed header of a message. */
    record Header(int id, int flags, int questions, int answers, int authorities, int additionals) {
        boolean isResponse() {
            return (flags & 0x8000) != 0;
        }

        int opcode() {
            return (flags >> 11) & 0xf;
        }

        boolean recursionDesired() {
            return (flags & 0x0100) != 0;
        }

        /** The CD (checking disabled) bit, in Netty's {@code z} numbering. */
        int checkingDisabledZ() {
            return (flags >> 4) & 0x1;
        }
    }

    /** The header of {@code message} (not consumed), or null when it is shorter than a header. */
    static @Nullable Header header(ByteBuf message) {
        if (message.readableBytes() < HEADER_BYTES) {
            return null;
        }
        int at = message.readerIndex();
        return new Header(
                message.getUnsignedShort(at),
                message.getUnsignedShort(at + 2),
                message.getUnsignedShort(at + 4),
                message.getUnsignedShort(at + 6),
                message.getUnsignedShort(at + 8),
                message.getUnsignedShort(at + 10));
    }

    /**
     * Decodes a query with Netty's decoder. The message is read but not released; the query holds retained slices
     * of it and must be released by the caller.
     *
     * @throws Exception when the message is malformed (any decoding failure)
     */
    static DnsQuery decodeQuery(ByteBuf message, InetSocketAddress sender, InetSocketAddress recipient)
            throws Exception {
        return QUERY_DECODER.decode(new DatagramPacket(message.duplicate(), recipient, sender));
    }

    /** EDNS of a query or response: the UDP payload size, version and DO bit. */
    record Edns(int payload, int version, boolean dnssecOk) {
        /** The OPT record of {@code query}'s additional section, or null. */
        static @Nullable Edns of(DnsQuery query) {
            int n = query.count(DnsSection.ADDITIONAL);
            for (int i = 0; i < n; i++) {
                DnsRecord r = query.recordAt(DnsSection.ADDITIONAL, i);
                if (r.type() == DnsRecordType.OPT) {
                    long ttl = r.timeToLive();
                    return new Edns(r.dnsClass(), (int) (ttl >> 16) & 0xff, (ttl & 0x8000) != 0);
                }
            }
            return null;
        }

        /** The response's EDNS for this request's: payload at least 512, same version, DO copied. */
        Edns forResponse() {
            return new Edns(Math.max(payload, 512), version, dnssecOk);
        }

        DnsRecord toRecord() {
            long ttl = ((long) version << 16) | (dnssecOk ? 0x8000 : 0);
            return new DefaultDnsRawRecord("", DnsRecordType.OPT, payload, ttl, Unpooled.EMPTY_BUFFER);
        }
    }

    /**
     * A response to be encoded: header flags, the echoed question, answers and additional records (owned: released by
     * {@link #release}), and EDNS.
     */
    record Reply(
            int id,
            DnsOpCode opcode,
            DnsResponseCode code,
            boolean authoritative,
            boolean recursionAvailable,
            boolean recursionDesired,
            int z,
            @Nullable DnsQuestion question,
            List<DnsRecord> answers,
            List<DnsRecord> additionals,
            @Nullable Edns edns) {

        /** An answer-less reply: FORMERR, NOTIMP, SERVFAIL, or an empty NOERROR/NXDOMAIN. */
        static Reply empty(
                Header header, DnsResponseCode code, @Nullable DnsQuestion question, @Nullable Edns edns, boolean aa) {
            return new Reply(
                    header.id(),
                    DnsOpCode.valueOf(header.opcode()),
                    code,
                    aa,
                    aa, // an authoritative empty answer comes from the lookup path, which sets RA as well
                    header.recursionDesired(),
                    header.checkingDisabledZ(),
                    question,
                    List.of(),
                    List.of(),
                    edns);
        }

        void release() {
            answers.forEach(ReferenceCountUtil::release);
            additionals.forEach(ReferenceCountUtil::release);
        }
    }

    /** The UDP size limit for a reply to a query with {@code edns} (null: none). */
    static int udpLimit(@Nullable Edns edns) {
        return edns == null ? UDP_LIMIT_WITHOUT_EDNS : Math.max(edns.payload(), 512);
    }

    /**
     * Encodes {@code reply} into a new buffer (the caller owns it) of at most {@code limit} bytes: when the whole
     * message is longer, records are dropped from the end (additional first, then answers) and TC is set. The reply
     * itself is not released.
     */
    static ByteBuf encode(Reply reply, int limit, ByteBufAllocator alloc) {
        int total = reply.answers().size() + reply.additionals().size();
        ByteBuf full = encode(reply, total, false, alloc);
        if (full.readableBytes() <= limit) {
            return full;
        }
        full.release();
        int lo = 0; // kept records known to fit (0 always "fits": nothing smaller can be sent)
        int hi = total - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            ByteBuf attempt = encode(reply, mid, true, alloc);
            boolean fits = attempt.readableBytes() <= limit;
            attempt.release();
            if (fits) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return encode(reply, lo, true, alloc);
    }

    private static ByteBuf encode(Reply reply, int keep, boolean truncated, ByteBufAllocator alloc) {
        DatagramDnsResponse response =
                new DatagramDnsResponse(NOWHERE, NOWHERE, reply.id(), reply.opcode(), reply.code());
        try {
            response.setAuthoritativeAnswer(reply.authoritative())
                    .setRecursionAvailable(reply.recursionAvailable())
                    .setRecursionDesired(reply.recursionDesired())
                    .setTruncated(truncated)
                    .setZ(reply.z());
            if (reply.question() != null) {
                response.addRecord(DnsSection.QUESTION, reply.question());
            }
            int left = keep;
            for (DnsRecord r : reply.answers()) {
                if (left-- <= 0) {
                    break;
                }
                response.addRecord(DnsSection.ANSWER, shared(r));
            }
            for (DnsRecord r : reply.additionals()) {
                if (left-- <= 0) {
                    break;
                }
                response.addRecord(DnsSection.ADDITIONAL, shared(r));
            }
            if (reply.edns() != null) {
                response.addRecord(DnsSection.ADDITIONAL, reply.edns().toRecord());
            }
            return new ResponseEncoder(alloc).encode(response);
        } finally {
            response.release();
        }
    }

    /** A record to add to a message that will release it: raw records get a retained duplicate. */
    private static DnsRecord shared(DnsRecord r) {
        return r instanceof DnsRawRecord raw ? raw.retainedDuplicate() : r;
    }

    /** The wire form of {@code name} (uncompressed), for the data of a CNAME record. */
    static ByteBuf nameRdata(String name) {
        ByteBuf out = Unpooled.buffer(name.length() + 2);
        writeName(name, out, null);
        return out;
    }

    /**
     * Writes {@code name} as labels; with a {@code table} (suffix → message offset), a known suffix becomes a
     * compression pointer and new suffixes are recorded.
     */
    private static void writeName(String name, ByteBuf out, @Nullable Map<String, Integer> table) {
        String n = name.endsWith(".") ? name.substring(0, name.length() - 1) : name;
        if (n.isEmpty()) {
            out.writeByte(0);
            return;
        }
        int start = 0;
        while (start < n.length()) {
            if (table != null) {
                String suffix = n.substring(start).toLowerCase(Locale.ROOT);
                Integer at = table.get(suffix);
                if (at != null) {
                    out.writeShort(0xc000 | at);
                    return;
                }
                if (out.writerIndex() < 0x4000) {
                    table.put(suffix, out.writerIndex());
                }
            }
            int dot = n.indexOf('.', start);
            int end = dot < 0 ? n.length() : dot;
            int length = end - start;
            if (length == 0 || length > 63) {
                throw new IllegalArgumentException("invalid DNS name: " + name);
            }
            out.writeByte(length);
            ByteBufUtil.writeAscii(out, n.subSequence(start, end));
            start = end + 1;
        }
        out.writeByte(0);
    }

    /** The query type's name, upper case as in the access log ({@code A}, {@code AAAA}, {@code HTTPS}). */
    static String typeName(DnsRecordType type) {
        String known = TYPE_NAMES.get(type.intValue());
        return known != null ? known : "Unknown";
    }

    /** The {@code request_query_type} label: the type's name in lower case; types the library does not know share
     * {@code unknown}, which bounds the label's values. */
    static String typeLabel(DnsRecordType type) {
        String known = TYPE_NAMES.get(type.intValue());
        return known != null ? known.toLowerCase(Locale.ROOT) : "unknown";
    }

    /** The record types upstream's DNS library names (others print as "Unknown"). */
    private static final Map<Integer, String> TYPE_NAMES = Map.ofEntries(
            Map.entry(1, "A"),
            Map.entry(2, "NS"),
            Map.entry(5, "CNAME"),
            Map.entry(6, "SOA"),
            Map.entry(10, "NULL"),
            Map.entry(12, "PTR"),
            Map.entry(13, "HINFO"),
            Map.entry(15, "MX"),
            Map.entry(16, "TXT"),
            Map.entry(24, "SIG"),
            Map.entry(25, "KEY"),
            Map.entry(28, "AAAA"),
            Map.entry(33, "SRV"),
            Map.entry(35, "NAPTR"),
            Map.entry(37, "CERT"),
            Map.entry(41, "OPT"),
            Map.entry(43, "DS"),
            Map.entry(44, "SSHFP"),
            Map.entry(46, "RRSIG"),
            Map.entry(47, "NSEC"),
            Map.entry(48, "DNSKEY"),
            Map.entry(50, "NSEC3"),
            Map.entry(51, "NSEC3PARAM"),
            Map.entry(52, "TLSA"),
            Map.entry(59, "CDS"),
            Map.entry(60, "CDNSKEY"),
            Map.entry(61, "OPENPGPKEY"),
            Map.entry(62, "CSYNC"),
            Map.entry(64, "SVCB"),
            Map.entry(65, "HTTPS"),
            Map.entry(250, "TSIG"),
            Map.entry(251, "IXFR"),
            Map.entry(252, "AXFR"),
            Map.entry(255, "ANY"),
            Map.entry(257, "CAA"),
            Map.entry(65305, "ANAME"));

    /** Netty's query decoder, callable on one message (its decode method does not use the context). */
    private static final class QueryDecoder extends DatagramDnsQueryDecoder {
        DnsQuery decode(DatagramPacket packet) throws Exception {
            List<Object> out = new ArrayList<>(1);
            decode(null, packet, out);
            return (DnsQuery) out.getFirst();
        }
    }

    /** Netty's response encoder, on a buffer of ours, with a compressing record encoder; one per message. */
    private static final class ResponseEncoder extends DatagramDnsResponseEncoder {
        private final ByteBufAllocator alloc;

        ResponseEncoder(ByteBufAllocator alloc) {
            super(new CompressingEncoder());
            this.alloc = alloc;
        }

        ByteBuf encode(DnsResponse response) {
            List<Object> out = new ArrayList<>(1);
            try {
                @SuppressWarnings("unchecked")
                AddressedEnvelope<DnsResponse, InetSocketAddress> envelope =
                        (AddressedEnvelope<DnsResponse, InetSocketAddress>) response;
                encode(null, envelope, out);
            } catch (Exception e) {
                throw new IllegalStateException("cannot encode a DNS response: " + Errors.message(e), e);
            }
            return ((DatagramPacket) out.getFirst()).content();
        }

        @Override
        protected ByteBuf allocateBuffer(
                ChannelHandlerContext ctx, AddressedEnvelope<DnsResponse, InetSocketAddress> msg) {
            return alloc.ioBuffer(512);
        }
    }

    /** Netty's record encoder with name compression (RFC 1035 4.1.4) over one message written from offset 0. */
    private static final class CompressingEncoder extends DefaultDnsRecordEncoder {
        private final Map<String, Integer> table = new HashMap<>();

        @Override
        protected void encodeName(String name, ByteBuf out) {
            writeName(name, out, table);
        }
    }

    /**
     * Netty's record decoder, extended for upstream answers: names inside the data of the record types that may
     * carry compressed names (MX, SRV, SOA, ...) are expanded, so the record stays valid in another message. Netty
     * itself expands CNAME and NS and decodes PTR.
     */
    static final DefaultDnsRecordDecoder UPSTREAM_RECORDS = new UpstreamRecordDecoder();

    /** Where the names sit in a record's data: fixed bytes before, number of names, then the rest as is. */
    private record NameLayout(int prefix, int names) {}

    private static final Map<Integer, NameLayout> NAME_LAYOUTS = Map.ofEntries(
            Map.entry(3, new NameLayout(0, 1)), // MD
            Map.entry(4, new NameLayout(0, 1)), // MF
            Map.entry(6, new NameLayout(0, 2)), // SOA: mname, rname, then 20 bytes
            Map.entry(7, new NameLayout(0, 1)), // MB
            Map.entry(8, new NameLayout(0, 1)), // MG
            Map.entry(9, new NameLayout(0, 1)), // MR
            Map.entry(14, new NameLayout(0, 2)), // MINFO
            Map.entry(15, new NameLayout(2, 1)), // MX
            Map.entry(17, new NameLayout(0, 2)), // RP
            Map.entry(18, new NameLayout(2, 1)), // AFSDB
            Map.entry(21, new NameLayout(2, 1)), // RT
            Map.entry(26, new NameLayout(2, 2)), // PX
            Map.entry(33, new NameLayout(6, 1)), // SRV
            Map.entry(36, new NameLayout(2, 1))); // KX

    private static final class UpstreamRecordDecoder extends DefaultDnsRecordDecoder {
        @Override
        protected DnsRecord decodeRecord(
                String name, DnsRecordType type, int dnsClass, long timeToLive, ByteBuf in, int offset, int length)
                throws Exception {
            NameLayout layout = NAME_LAYOUTS.get(type.intValue());
            if (layout == null) {
                return super.decodeRecord(name, type, dnsClass, timeToLive, in, offset, length);
            }
            // Names may point anywhere earlier in the message: read through a view with the message's indexes.
            ByteBuf data = in.duplicate().setIndex(offset, offset + length);
            ByteBuf out = Unpooled.buffer(length + 32);
            try {
                if (data.readableBytes() < layout.prefix()) {
                    throw new IllegalArgumentException(type + " record data too short");
                }
                data.readBytes(out, layout.prefix());
                for (int i = 0; i < layout.names(); i++) {
                    writeName(decodeName(data), out, null);
                }
                out.writeBytes(data);
                return new DefaultDnsRawRecord(name, type, dnsClass, timeToLive, out);
            } catch (Exception | Error e) {
                out.release();
                throw e;
            }
        }
    }
}
