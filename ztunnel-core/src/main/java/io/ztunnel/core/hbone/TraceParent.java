package io.ztunnel.core.hbone;

import java.util.concurrent.ThreadLocalRandom;

/** W3C {@code traceparent} values: a fresh random trace per proxied connection, as ztunnel sends. */
public final class TraceParent {
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private TraceParent() {}

    /** {@code 00-<32 hex trace id>-<16 hex parent id>-00}. */
    public static String random() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        StringBuilder sb = new StringBuilder(55).append("00-");
        hex(sb, r.nextLong() | 1L);
        hex(sb, r.nextLong());
        sb.append('-');
        hex(sb, r.nextLong() | 1L);
        return sb.append("-00").toString();
    }

    private static void hex(StringBuilder sb, long v) {
        for (int shift = 60; shift >= 0; shift -= 4) {
            sb.append(HEX[(int) (v >>> shift) & 0xf]);
        }
    }
}
