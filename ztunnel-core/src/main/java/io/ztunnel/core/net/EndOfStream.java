package io.ztunnel.core.net;

import io.netty.channel.socket.DuplexChannel;

/**
 * Written to a channel that is not a {@link DuplexChannel} (an HTTP/2 stream) to ask it to end
 * its outbound direction, the equivalent of {@code shutdownOutput()} on a TCP socket. The HBONE stream adapter turns
 * it into an empty DATA frame with END_STREAM. A singleton with no resources: nothing to release.
 */
public final class EndOfStream {
    public static final EndOfStream INSTANCE = new EndOfStream();

    private EndOfStream() {}

    @Override
    public String toString() {
        return "EndOfStream";
    }
}
