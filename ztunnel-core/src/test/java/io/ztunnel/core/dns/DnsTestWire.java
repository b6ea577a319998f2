package io.ztunnel.core.dns;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.DatagramPacket;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryEncoder;
import io.netty.handler.codec.dns.DatagramDnsResponse;
import io.netty.handler.codec.dns.DatagramDnsResponseDecoder;
import io.netty.handler.codec.dns.DefaultDnsQuestion;
import io.netty.handler.codec.dns.DefaultDnsRecordDecoder;
import io.netty.handler.codec.dns.DnsRawRecord;
import io.netty.handler.codec.dns.DnsRecord;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsSection;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/**
 * Test-side DNS messages: queries encoded and responses decoded with Netty's codec (through embedded channels), and
 * a decoded response as plain values so tests hold no buffers. Stateless.
 */
final class DnsTestWire {
    private static final InetSocketAddress ANY = new InetSocketAddress(InetAddress.getLoopbackAddress(), 53);

    private DnsTestWire() {}

    /** A query's bytes; {@code ednsPayload} below 0 means no OPT record. */
    static byte[] query(int id, String name, DnsRecordType type, int ednsPayload) {
        DatagramDnsQuery q = new DatagramDnsQuery(null, ANY, id);
        try {
            q.setRecursionDesired(true);
            q.addRecord(DnsSection.QUESTION, new DefaultDnsQuestion(name, type));
            if (ednsPayload >= 0) {
                q.addRecord(DnsSection.ADDITIONAL, new DnsWire.Edns(ednsPayload, 0, true).toRecord());
            }
        } catch (RuntimeException e) {
            q.release(); // a name the codec refuses: the query never reaches the encoder, which would release it
            throw e;
        }
        EmbeddedChannel ch = new EmbeddedChannel(new DatagramDnsQueryEncoder());
        ch.writeOutbound(q);
        DatagramPacket packet = ch.readOutbound();
        ch.finishAndReleaseAll();
        try {
            return ByteBufUtil.getBytes(packet.content());
        } finally {
            packet.release();
        }
    }

    /** A decoded record: owner, type, TTL, data (addresses as text, names as text, others as hex). */
    record Rec(String name, DnsRecordType type, long ttl, String data) {}

    /** A decoded response as values. */
    record Msg(
            int id,
            String code,
            boolean aa,
            boolean tc,
            boolean rd,
            boolean ra,
            List<String> questions,
            List<Rec> answers,
            List<Rec> authorities,
            List<Rec> additionals) {}

    static Msg decode(byte[] bytes) {
        EmbeddedChannel ch = new EmbeddedChannel(new DatagramDnsResponseDecoder(DnsWire.UPSTREAM_RECORDS));
        ch.writeInbound(new DatagramPacket(Unpooled.wrappedBuffer(bytes), ANY, ANY));
        DatagramDnsResponse r = ch.readInbound();
        ch.finishAndReleaseAll();
        try {
            List<String> questions = new ArrayList<>();
            for (int i = 0; i < r.count(DnsSection.QUESTION); i++) {
                DnsRecord q = r.recordAt(DnsSection.QUESTION, i);
                questions.add(q.name() + " " + q.type().name());
            }
            return new Msg(
                    r.id(),
                    r.code().toString(),
                    r.isAuthoritativeAnswer(),
                    r.isTruncated(),
                    r.isRecursionDesired(),
                    r.isRecursionAvailable(),
                    questions,
                    records(r, DnsSection.ANSWER),
                    records(r, DnsSection.AUTHORITY),
                    records(r, DnsSection.ADDITIONAL));
        } finally {
            r.release();
        }
    }

    private static List<Rec> records(DatagramDnsResponse r, DnsSection section) {
        List<Rec> out = new ArrayList<>();
        for (int i = 0; i < r.count(section); i++) {
            DnsRecord rec = r.recordAt(section, i);
            out.add(new Rec(rec.name(), rec.type(), rec.timeToLive(), data(rec)));
        }
        return out;
    }

    private static String data(DnsRecord rec) {
        if (!(rec instanceof DnsRawRecord raw)) {
            return "";
        }
        ByteBuf c = raw.content();
        byte[] b = ByteBufUtil.getBytes(c);
        if (rec.type() == DnsRecordType.A || rec.type() == DnsRecordType.AAAA) {
            try {
                return InetAddress.getByAddress(b).getHostAddress();
            } catch (UnknownHostException e) {
                return "bad address";
            }
        }
        if (rec.type() == DnsRecordType.CNAME) {
            return DefaultDnsRecordDecoder.decodeName(c.duplicate());
        }
        if (rec.type() == DnsRecordType.MX) {
            ByteBuf d = c.duplicate();
            int pref = d.readUnsignedShort();
            return pref + " " + DefaultDnsRecordDecoder.decodeName(d);
        }
        return ByteBufUtil.hexDump(b);
    }
}
