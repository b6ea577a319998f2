package io.ztunnel.core.hbone;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.ztunnel.core.net.Relay;
import io.ztunnel.core.util.LogSpan;
import org.jspecify.annotations.Nullable;

/**
 * An inbound HBONE CONNECT whose request is well formed (the method is CONNECT and the {@code :authority} parses),
 * handed by the {@link HboneServer} to its owner, which decides what happens: {@link #reject} it with a status, or
 * connect upstream and {@link #accept} it. Exactly one of the two takes effect; later calls do nothing.
 *
 * <p>Threading: every method must be called on {@link #eventLoop()}, the stream's (and its HBONE connection's) loop;
 * the stream's reads are off until the relay starts. Ownership: DATA that arrived before the decision is held by the
 * stream and released on {@link #reject}, or handed on with the channel by {@link #accept}.
 */
public interface InboundStream {

    /** The request: peer identity and addresses, the parsed target, the headers. */
    InboundRequest request();

    EventLoop eventLoop();

    /** Whether the stream is still open (the peer may reset it while the owner decides). */
    boolean isActive();

    /** Completes when the stream is closed, whatever ended it. */
    ChannelFuture closeFuture();

    /** Sets the span the stream's own log lines carry from now on (the owner's span for this request). */
    void logSpan(LogSpan span);

    /**
     * Refuses the CONNECT: HEADERS with {@code status} and END_STREAM, then the stream is closed.
     *
     * @param reason why, for the debug log (e.g. the deciding policy)
     */
    void reject(HttpResponseStatus status, String reason);

    /**
     * Accepts the CONNECT: answers 200 (with {@code responseBaggage} as the {@code baggage} header when non-empty) and
     * returns the stream as a byte channel ready for {@link Relay#start}: DATA becomes
     * {@link ByteBuf}s, END_STREAM an input shutdown, and what arrived early is replayed by the relay.
     */
    Channel accept(@Nullable Baggage responseBaggage);
}
