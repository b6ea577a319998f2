/**
 * Benchmarks that live in ztunnel-core's {@code hbone} package to reach its package-private pieces; the package
 * itself is ztunnel-core's.
 */
@NullMarked
package io.ztunnel.core.hbone;

import org.jspecify.annotations.NullMarked;
