/** Wiring: the entry point, the daemon (event loops, certificates, state sources, proxies, servers, drain), logging. */
@NullMarked
package io.ztunnel.core.app;

import org.jspecify.annotations.NullMarked;
