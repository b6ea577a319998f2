package io.ztunnel.core.testing;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2Headers;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * HTTP/2 written by hand, for conformance tests that must send what a well-behaved implementation never would: frames
 * are built byte by byte (header blocks as HPACK literals without indexing), and a {@link Client} reads the server's
 * frames one at a time. Only the server's header blocks are decoded with Netty's HPACK decoder, in order, so that a
 * test can read a {@code :status}.
 *
 * <p>Threading: {@link Client} is for one test thread. Nothing here holds pooled buffers.
 */
public final class RawHttp2 {
    public static final int DATA = 0x0;
    public static final int HEADERS = 0x1;
    public static final int PRIORITY = 0x2;
    public static final int RST_STREAM = 0x3;
    public static final int SETTINGS = 0x4;
    public static final int PING = 0x6;
    public static final int GOAWAY = 0x7;
    public static final int WINDOW_UPDATE = 0x8;

    public static final int END_STREAM = 0x1;
    public static final int ACK = 0x1;
    public static final int END_HEADERS = 0x4;

    public static final int SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
    public static final int SETTINGS_INITIAL_WINDOW_SIZE = 0x4;

    public static final int NO_ERROR = 0x0;
    public static final int PROTOCOL_ERROR = 0x1;
    public static final int FLOW_CONTROL_ERROR = 0x3;
    public static final int STREAM_CLOSED = 0x5;
    public static final int FRAME_SIZE_ERROR = 0x6;
    public static final int REFUSED_STREAM = 0x7;

    public static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    private RawHttp2() {}

    /** A frame as read from the server; {@code headers} is the decoded block of a HEADERS frame, else null. */
    public record Frame(
            int type,
            int flags,
            int stream,
            byte[] payload,
            @Nullable Http2Headers headers) {
        /** The decoded header block; fails the test for a frame that carries none (only HEADERS frames do). */
        public Http2Headers headerBlock() {
            if (headers == null) {
                throw new AssertionError("a frame of type " + type + " carries no header block");
            }
            return headers;
        }

        public boolean endStream() {
            return (type == DATA || type == HEADERS) && (flags & END_STREAM) != 0;
        }

        /** The error code of a RST_STREAM or GOAWAY frame. */
        public int errorCode() {
            ByteBuffer b = ByteBuffer.wrap(payload);
            return switch (type) {
                case RST_STREAM -> b.getInt(0);
                case GOAWAY -> b.getInt(4);
                default -> throw new IllegalStateException("no error code in frame type " + type);
            };
        }

        /** SETTINGS parameter value, or -1 when absent. */
        public long setting(int id) {
            ByteBuffer b = ByteBuffer.wrap(payload);
            for (int i = 0; i + 6 <= payload.length; i += 6) {
                if ((b.getShort(i) & 0xFFFF) == id) {
                    return b.getInt(i + 2) & 0xFFFFFFFFL;
                }
            }
            return -1;
        }

        @Override
        public String toString() {
            String detail = switch (type) {
                case RST_STREAM, GOAWAY -> " error=" + errorCode();
                case HEADERS -> " " + headers;
                case DATA -> " length=" + payload.length;
                default -> "";
            };
            return "Frame[type=" + type + " flags=" + flags + " stream=" + stream + detail + "]";
        }
    }

    public static byte[] frame(int type, int flags, int stream, byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(9 + payload.length);
        b.put((byte) (payload.length >>> 16)).put((byte) (payload.length >>> 8)).put((byte) payload.length);
        b.put((byte) type).put((byte) flags).putInt(stream).put(payload);
        return b.array();
    }

    /** Splits bytes written by a server into frames (header blocks are not decoded); a partial frame at the end is an error. */
    public static List<Frame> parseFrames(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        List<Frame> frames = new ArrayList<>();
        while (b.remaining() > 0) {
            if (b.remaining() < 9) {
                throw new AssertionError("partial frame header at the end: " + b.remaining() + " bytes");
            }
            int length = ((b.get() & 0xFF) << 16) | ((b.get() & 0xFF) << 8) | (b.get() & 0xFF);
            int type = b.get() & 0xFF;
            int flags = b.get() & 0xFF;
            int stream = b.getInt() & Integer.MAX_VALUE;
            byte[] payload = new byte[length];
            b.get(payload);
            frames.add(new Frame(type, flags, stream, payload, null));
        }
        return frames;
    }

    /** A complete HEADERS frame (END_HEADERS set) with the given name/value pairs. */
    public static byte[] headers(int stream, boolean endStream, String... nameValues) {
        return frame(HEADERS, END_HEADERS | (endStream ? END_STREAM : 0), stream, block(nameValues));
    }

    /** CONNECT to {@code authority}, stream left open. */
    public static byte[] connect(int stream, String authority) {
        return headers(stream, false, ":method", "CONNECT", ":authority", authority);
    }

    public static byte[] data(int stream, boolean endStream, byte[] bytes) {
        return frame(DATA, endStream ? END_STREAM : 0, stream, bytes);
    }

    public static byte[] windowUpdate(int stream, int increment) {
        return frame(
                WINDOW_UPDATE,
                0,
                stream,
                ByteBuffer.allocate(4).putInt(increment).array());
    }

    public static byte[] priority(int stream, int dependsOn) {
        return frame(
                PRIORITY,
                0,
                stream,
                ByteBuffer.allocate(5).putInt(dependsOn).put((byte) 15).array());
    }

    public static byte[] ping(long data) {
        return frame(PING, 0, 0, ByteBuffer.allocate(8).putLong(data).array());
    }

    /** SETTINGS with (id, value) pairs. */
    public static byte[] settings(int... idValues) {
        ByteBuffer b = ByteBuffer.allocate(idValues.length / 2 * 6);
        for (int i = 0; i < idValues.length; i += 2) {
            b.putShort((short) idValues[i]).putInt(idValues[i + 1]);
        }
        return frame(SETTINGS, 0, 0, b.array());
    }

    /** A header block of literal fields without indexing and without Huffman coding (RFC 7541 §6.2.2). */
    public static byte[] block(String... nameValues) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < nameValues.length; i += 2) {
            out.write(0x00);
            string(out, nameValues[i]);
            string(out, nameValues[i + 1]);
        }
        return out.toByteArray();
    }

    private static void string(ByteArrayOutputStream out, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        integer(out, bytes.length, 7, 0x00);
        out.writeBytes(bytes);
    }

    private static void integer(ByteArrayOutputStream out, int value, int prefixBits, int firstByteFlags) {
        int max = (1 << prefixBits) - 1;
        if (value < max) {
            out.write(firstByteFlags | value);
            return;
        }
        out.write(firstByteFlags | max);
        value -= max;
        while (value >= 128) {
            out.write((value & 0x7F) | 0x80);
            value >>>= 7;
        }
        out.write(value);
    }

    /**
     * A plaintext prior-knowledge client (used through {@link MtlsBridge}). {@link #open} sends the preface and our
     * SETTINGS; frames are then read with {@link #await}, which acknowledges the server's SETTINGS and PINGs on the
     * way.
     */
    public static final class Client implements AutoCloseable {
        private final Socket socket;
        private final InputStream in;
        private final OutputStream out;
        private final DefaultHttp2HeadersDecoder hpack = new DefaultHttp2HeadersDecoder(false);
        private final List<Frame> seen = new ArrayList<>();
        private @Nullable Frame serverSettings;
        private boolean closed;

        private Client(Socket socket) throws IOException {
            this.socket = socket;
            this.in = socket.getInputStream();
            this.out = socket.getOutputStream();
        }

        /** Connects, sends the preface and {@code settings} (id/value pairs), and waits for the server's SETTINGS. */
        public static Client open(InetSocketAddress address, int... settings) throws IOException {
            Client c = new Client(new Socket(address.getAddress(), address.getPort()));
            c.send(PREFACE, RawHttp2.settings(settings));
            c.serverSettings = c.await(f -> f.type() == SETTINGS && (f.flags() & ACK) == 0, Duration.ofSeconds(30));
            return c;
        }

        /** The server's first SETTINGS frame. */
        public Frame serverSettings() {
            return Objects.requireNonNull(serverSettings, "open() reads the server's SETTINGS");
        }

        public void send(byte[]... frames) throws IOException {
            for (byte[] f : frames) {
                out.write(f);
            }
            out.flush();
        }

        /**
         * Reads frames until one matches, or fails with every frame seen so far when the time is up or the connection
         * ends first.
         */
        public Frame await(Predicate<Frame> match, Duration timeout) throws IOException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (true) {
                long left = Duration.ofNanos(deadline - System.nanoTime()).toMillis();
                if (left <= 0) {
                    throw new AssertionError("no matching frame within " + timeout + "; frames seen: " + seen);
                }
                Frame f = read((int) left);
                if (f == null) {
                    throw new AssertionError("connection ended before a matching frame; frames seen: " + seen);
                }
                if (match.test(f)) {
                    return f;
                }
            }
        }

        /** Reads until the server closes the connection; fails if it does not within {@code timeout}. */
        public List<Frame> awaitClose(Duration timeout) throws IOException {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!closed) {
                long left = Duration.ofNanos(deadline - System.nanoTime()).toMillis();
                if (left <= 0) {
                    throw new AssertionError("connection still open after " + timeout + "; frames seen: " + seen);
                }
                read((int) left);
            }
            return List.copyOf(seen);
        }

        /** Frames read so far. */
        public List<Frame> seen() {
            return List.copyOf(seen);
        }

        /** Sends a PING and waits for its ACK: the connection is alive and has processed what was sent before. */
        public void roundTrip() throws IOException {
            long token = System.nanoTime();
            send(ping(token));
            await(
                    f -> f.type() == PING
                            && (f.flags() & ACK) != 0
                            && ByteBuffer.wrap(f.payload()).getLong() == token,
                    Duration.ofSeconds(10));
        }

        private @Nullable Frame read(int timeoutMillis) throws IOException {
            socket.setSoTimeout(timeoutMillis);
            byte[] header;
            try {
                header = in.readNBytes(9);
            } catch (SocketTimeoutException e) {
                throw new AssertionError("no frame within " + timeoutMillis + " ms; frames seen: " + seen, e);
            } catch (IOException e) {
                closed = true; // reset by the server
                return null;
            }
            if (header.length < 9) {
                closed = true;
                return null;
            }
            int length = ((header[0] & 0xFF) << 16) | ((header[1] & 0xFF) << 8) | (header[2] & 0xFF);
            byte[] payload = in.readNBytes(length);
            if (payload.length < length) {
                closed = true;
                return null;
            }
            int type = header[3] & 0xFF;
            int flags = header[4] & 0xFF;
            int stream = ByteBuffer.wrap(header, 5, 4).getInt() & Integer.MAX_VALUE;
            Http2Headers decoded = null;
            if (type == HEADERS) {
                ByteBuf block = Unpooled.wrappedBuffer(payload);
                try {
                    decoded = hpack.decodeHeaders(stream, block);
                } catch (Http2Exception e) {
                    throw new AssertionError("server sent a header block we cannot decode", e);
                } finally {
                    block.release();
                }
            }
            Frame f = new Frame(type, flags, stream, payload, decoded);
            seen.add(f);
            if (type == SETTINGS && (flags & ACK) == 0) {
                send(frame(SETTINGS, ACK, 0, new byte[0]));
            } else if (type == PING && (flags & ACK) == 0) {
                send(frame(PING, ACK, 0, payload));
            }
            return f;
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
