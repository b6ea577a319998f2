/** Routing decisions: outbound routes (VIPs, load balancing, waypoints, passthrough) and inbound CONNECT targets. */
@NullMarked
package io.ztunnel.core.routing;

import org.jspecify.annotations.NullMarked;
