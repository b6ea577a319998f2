/**
 * JMH microbenchmarks of the daemon's hot paths (authorization, routing, relaying, metrics), with the shared mesh
 * fixture they measure against.
 */
@NullMarked
package io.ztunnel.bench.jmh;

import org.jspecify.annotations.NullMarked;
