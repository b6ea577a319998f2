/** One workload's proxies: the listeners, outbound and inbound flows, SOCKS5, connection records, access log. */
@NullMarked
package io.ztunnel.core.proxy;

import org.jspecify.annotations.NullMarked;
