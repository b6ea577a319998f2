package io.ztunnel.core.hbone;

import java.util.concurrent.CompletionStage;

/**
 * Decides where an HBONE CONNECT goes and whether it is allowed (destination validation, port mapping, L4
 * authorization). Called on the stream's event loop; the stage may complete on any thread and must not block it.
 */
@FunctionalInterface
public interface InboundRouter {
    CompletionStage<InboundDecision> route(InboundRequest request);
}
