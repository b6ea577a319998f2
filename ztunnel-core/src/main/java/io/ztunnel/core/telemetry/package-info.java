/** Traffic telemetry: the {@code istio_tcp_*} metrics of proxied connections. */
@NullMarked
package io.ztunnel.core.telemetry;

import org.jspecify.annotations.NullMarked;
