package io.ztunnel.core.hbone;

import static io.netty.handler.codec.http2.Http2Exception.connectionError;
import static io.netty.handler.codec.http2.Http2Exception.streamError;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http2.DecoratingHttp2ConnectionDecoder;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2ConnectionAdapter;
import io.netty.handler.codec.http2.Http2ConnectionDecoder;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2FrameTypes;
import io.netty.handler.codec.http2.Http2Stream;
import java.util.List;

/**
 * Answers HEADERS frames on streams the peer may no longer send on with the error RFC 9113 §5.1 and §5.1.1 name, where
 * Netty's answer differs.
 *
 * <p>On a stream in the half-closed (remote) state, a HEADERS frame is a stream error STREAM_CLOSED. Netty checks the
 * header count first and, because it counts the opening HEADERS twice when that carried END_STREAM, answers
 * PROTOCOL_ERROR; the error is renamed after Netty has decoded the frame (so HPACK stays in step).
 *
 * <p>On a stream that no longer exists Netty answers every HEADERS frame with RST_STREAM(STREAM_CLOSED), because it
 * forgets a stream once it closes. Here:
 *
 * <ul>
 *   <li>a stream identifier the peer skipped (it opened a higher one first) is "unexpected": connection error
 *       PROTOCOL_ERROR (§5.1.1);
 *   <li>a stream that closed normally (both sides ended it): connection error STREAM_CLOSED (§5.1);
 *   <li>a stream closed by RST_STREAM, from either side, among the last {@value #RECENT_RESETS}: left to Netty, whose
 *       stream error STREAM_CLOSED is what §5.1 names after the peer's reset (after our own reset §5.1 says to ignore
 *       the frame; the header block must still be decoded to keep HPACK in step, so the stream error is the nearest).
 * </ul>
 *
 * <p>To see each frame against the state its predecessors left, the decoder hands Netty's decoder one complete frame
 * at a time and keeps an incomplete one in the cumulation buffer (Netty's reader also waits for the whole payload); a
 * frame longer than the largest allowed is handed on at once, so that the reader rejects it without buffering it.
 * Memory per connection is bounded: the last {@value #RECENT_RESETS} reset streams and {@value #MAX_GAPS} ranges of
 * skipped identifiers (conforming clients skip none; past the bound a skipped identifier counts as a closed stream).
 *
 * <p>Threading: the connection's event loop. Ownership: frames are read as slices of the input, which Netty's decoder
 * consumes exactly as it would the whole input.
 */
final class ClosedStreamDecoder extends DecoratingHttp2ConnectionDecoder {
    static final int RECENT_RESETS = 32;
    static final int MAX_GAPS = 16;

    private final Http2Connection connection;
    private final int maxFrameSize;
    private final int[] recentResets = new int[RECENT_RESETS];
    private int nextReset;
    /** Skipped identifier ranges, inclusive: gapFrom[i]..gapTo[i]. */
    private final int[] gapFrom = new int[MAX_GAPS];

    private final int[] gapTo = new int[MAX_GAPS];
    private int gaps;
    private int highestOpened;
    /** The frame being decoded, so that a stream closing under it can be attributed to the peer's RST_STREAM. */
    private byte frameType = -1;

    private int frameStream;

    private boolean failed;

    /**
     * @param maxFrameSize the SETTINGS_MAX_FRAME_SIZE this end advertises
     */
    ClosedStreamDecoder(Http2ConnectionDecoder delegate, int maxFrameSize) {
        super(delegate);
        this.connection = delegate.connection();
        this.maxFrameSize = maxFrameSize;
        connection.addListener(new Http2ConnectionAdapter() {
            @Override
            public void onStreamClosed(Http2Stream stream) {
                int id = stream.id();
                boolean peerReset = frameType == Http2FrameTypes.RST_STREAM && frameStream == id;
                if (connection.remote().isValidStreamId(id) && (stream.isResetSent() || peerReset)) {
                    recentResets[nextReset] = id;
                    nextReset = (nextReset + 1) % RECENT_RESETS;
                }
            }
        });
    }

    @Override
    public void decodeFrame(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Http2Exception {
        if (failed) {
            super.decodeFrame(ctx, in, out); // the reader discards input after a connection error
            return;
        }
        while (in.readableBytes() >= Http2CodecUtil.FRAME_HEADER_LENGTH) {
            int start = in.readerIndex();
            int length = in.getUnsignedMedium(start);
            if (length > maxFrameSize) {
                super.decodeFrame(ctx, in, out); // the reader answers FRAME_SIZE_ERROR from the header alone
                return;
            }
            if (in.readableBytes() < Http2CodecUtil.FRAME_HEADER_LENGTH + length) {
                return; // the rest of this frame has not arrived yet
            }
            frameType = in.getByte(start + 3);
            frameStream = in.getInt(start + 5) & Integer.MAX_VALUE;
            ByteBuf frame = in.readSlice(Http2CodecUtil.FRAME_HEADER_LENGTH + length);
            try {
                if (frameType == Http2FrameTypes.HEADERS) {
                    decodeHeaders(ctx, frame, out);
                } else {
                    super.decodeFrame(ctx, frame, out);
                }
            } catch (Http2Exception e) {
                failed |= !Http2Exception.isStreamError(e);
                throw e;
            } finally {
                frameType = -1;
            }
        }
    }

    private void decodeHeaders(ChannelHandlerContext ctx, ByteBuf frame, List<Object> out) throws Http2Exception {
        int id = frameStream;
        if (!connection.remote().isValidStreamId(id)) {
            super.decodeFrame(ctx, frame, out); // not a stream the peer may open: Netty rejects it
            return;
        }
        Http2Stream stream = connection.stream(id);
        if (stream != null) {
            boolean halfClosedRemote = stream.state() == Http2Stream.State.HALF_CLOSED_REMOTE;
            try {
                super.decodeFrame(ctx, frame, out);
            } catch (Http2Exception.StreamException e) {
                if (halfClosedRemote && e.streamId() == id && e.error() != Http2Error.STREAM_CLOSED) {
                    throw streamError(id, Http2Error.STREAM_CLOSED, e, "HEADERS on stream %d after its END_STREAM", id);
                }
                throw e;
            }
            return;
        }
        if (!connection.streamMayHaveExisted(id)) {
            opened(id);
            super.decodeFrame(ctx, frame, out); // a new stream
            return;
        }
        for (int reset : recentResets) {
            if (reset == id) {
                super.decodeFrame(ctx, frame, out);
                return;
            }
        }
        for (int i = 0; i < gaps; i++) {
            if (id >= gapFrom[i] && id <= gapTo[i]) {
                throw connectionError(
                        Http2Error.PROTOCOL_ERROR,
                        "HEADERS on stream %d after the client opened stream %d: stream identifiers must increase",
                        id,
                        highestOpened);
            }
        }
        throw connectionError(Http2Error.STREAM_CLOSED, "HEADERS on stream %d, which is closed", id);
    }

    private void opened(int id) {
        if (id > highestOpened + 2 && gaps < MAX_GAPS) {
            // Peer stream identifiers share one parity, so the skipped ones are every second number in between.
            gapFrom[gaps] = highestOpened == 0 ? 2 - (id & 1) : highestOpened + 2;
            gapTo[gaps] = id - 2;
            if (gapFrom[gaps] <= gapTo[gaps]) {
                gaps++;
            }
        }
        highestOpened = Math.max(highestOpened, id);
    }
}
