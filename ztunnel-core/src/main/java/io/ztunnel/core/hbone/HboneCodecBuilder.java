package io.ztunnel.core.hbone;

import io.netty.handler.codec.http2.DefaultHttp2Connection;
import io.netty.handler.codec.http2.DefaultHttp2RemoteFlowController;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2ConnectionDecoder;
import io.netty.handler.codec.http2.Http2ConnectionEncoder;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.UniformStreamByteDistributor;

/**
 * The frame codec builder of both ends of an HBONE connection: Netty's, with a connection whose outbound flow
 * controller hands out the connection's send window in slices of at least {@value #ALLOCATION_QUANTUM} bytes per
 * stream; on the server, {@link ClosedStreamDecoder} in front of Netty's decoder.
 *
 * <p>Why the slices: HBONE streams carry bulk bytes and have no priorities. Netty's default distributor (weighted fair queueing
 * with a 1 KiB quantum) interleaves streams that have data queued in 1 KiB turns, so with several busy streams on one
 * connection every flush wrote many small DATA frames (measured: ~53,000 frames/s of ~5 KB for eight streams) and
 * the peer's relay flushed its socket once per small frame. With 64 KiB slices, streams still take turns (the
 * distributor starts each round where the last one stopped) but each turn is a frame worth sending. A stream with
 * less queued than a slice takes only what it has.
 *
 * <p>Stateless builder; use one per connection (the codec it builds owns its connection object).
 */
final class HboneCodecBuilder extends Http2FrameCodecBuilder {
    /** Bytes a busy stream may send per turn before the next stream with data queued. */
    static final int ALLOCATION_QUANTUM = 64 * 1024;

    /** Netty's default for streams reserved by PUSH_PROMISE (none are accepted: push is off on HBONE). */
    private static final int MAX_RESERVED_STREAMS = 100;

    private final boolean server;
    /** The server's SETTINGS_MAX_FRAME_SIZE, for {@link ClosedStreamDecoder}; 0 on the client. */
    private final int serverMaxFrameSize;

    private HboneCodecBuilder(boolean server, int serverMaxFrameSize) {
        this.server = server;
        this.serverMaxFrameSize = serverMaxFrameSize;
        Http2Connection connection = new DefaultHttp2Connection(server, MAX_RESERVED_STREAMS);
        UniformStreamByteDistributor distributor = new UniformStreamByteDistributor(connection);
        distributor.minAllocationChunk(ALLOCATION_QUANTUM);
        connection.remote().flowController(new DefaultHttp2RemoteFlowController(connection, distributor));
        connection(connection);
        gracefulShutdownTimeoutMillis(0); // as Netty's forClient()/forServer(): the server sets its drain deadline
    }

    /**
     * @param maxFrameSize the SETTINGS_MAX_FRAME_SIZE the server advertises
     */
    static HboneCodecBuilder inbound(int maxFrameSize) {
        return new HboneCodecBuilder(true, maxFrameSize);
    }

    static HboneCodecBuilder outbound() {
        return new HboneCodecBuilder(false, 0);
    }

    @Override
    protected Http2FrameCodec build(
            Http2ConnectionDecoder decoder, Http2ConnectionEncoder encoder, Http2Settings initialSettings) {
        Http2ConnectionDecoder first = server ? new ClosedStreamDecoder(decoder, serverMaxFrameSize) : decoder;
        return super.build(first, encoder, initialSettings);
    }

    /** The role of the connection (the builder's own flag cannot be set together with a connection). */
    @Override
    public boolean isServer() {
        return server;
    }
}
