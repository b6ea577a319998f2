/**
 * The end-to-end load harness behind {@code ./bench}: {@link Harness} builds a two-node mesh of network namespaces,
 * drives it with {@link LoadGen} against {@link BenchServer}, compares with direct connections and stunnel, and
 * writes {@link Results}.
 */
@NullMarked
package io.ztunnel.bench.e2e;

import org.jspecify.annotations.NullMarked;
