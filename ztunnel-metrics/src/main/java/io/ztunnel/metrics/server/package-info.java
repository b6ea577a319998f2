/**
 * The Prometheus scrape server on {@code :15020} ({@code /metrics}, {@code /stats/prometheus}),
 * built on Netty and run on the daemon's control event loop group.
 */
@NullMarked
package io.ztunnel.metrics.server;

import org.jspecify.annotations.NullMarked;
