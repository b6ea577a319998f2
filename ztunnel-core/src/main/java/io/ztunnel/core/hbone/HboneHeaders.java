package io.ztunnel.core.hbone;

import io.netty.util.AsciiString;

/** Header names used by HBONE requests and responses (HTTP/2 header names are lower case). */
public final class HboneHeaders {
    public static final AsciiString BAGGAGE = AsciiString.cached("baggage");
    public static final AsciiString FORWARDED = AsciiString.cached("forwarded");
    public static final AsciiString TRACEPARENT = AsciiString.cached("traceparent");
    public static final AsciiString X_FORWARDED_NETWORK = AsciiString.cached("x-forwarded-network");

    private HboneHeaders() {}
}
