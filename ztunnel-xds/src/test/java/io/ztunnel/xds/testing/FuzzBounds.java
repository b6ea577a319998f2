package io.ztunnel.xds.testing;

import com.sun.management.ThreadMXBean;
import java.lang.management.ManagementFactory;

/**
 * The allocation bound fuzz targets check for every input: handling one input allocates, on the calling thread, at
 * most a fixed budget plus a multiple of the input's length, so that no length field or nesting makes a parser
 * allocate out of proportion (the fuzzing JVM also runs with a 1 GiB heap).
 *
 * <p>{@link #check} runs the input twice and measures the second run: the first may load classes, which Jazzer
 * instruments on the loading thread, and that allocation is not the parser's. Stateless; call from the fuzzing thread.
 */
public final class FuzzBounds {
    private static final ThreadMXBean THREADS = (ThreadMXBean) ManagementFactory.getThreadMXBean();

    /** Budget for any input. */
    public static final long BASE_BYTES = 4L * 1024 * 1024;

    private FuzzBounds() {}

    /**
     * Runs {@code handle} twice and fails when the second run allocated more than {@link #BASE_BYTES} plus
     * {@code perInputByte} for each of the input's {@code inputLength} bytes.
     */
    public static void check(int inputLength, long perInputByte, Runnable handle) {
        handle.run();
        long mark = THREADS.getCurrentThreadAllocatedBytes();
        handle.run();
        long used = THREADS.getCurrentThreadAllocatedBytes() - mark;
        long limit = BASE_BYTES + perInputByte * inputLength;
        if (used > limit) {
            throw new AssertionError(
                    "allocated " + used + " bytes for an input of " + inputLength + " bytes (limit " + limit + ")");
        }
    }
}
