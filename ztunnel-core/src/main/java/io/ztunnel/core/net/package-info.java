/** Network plumbing shared by the data plane: relays, pending input, socket options, transports, addresses. */
@NullMarked
package io.ztunnel.core.net;

import org.jspecify.annotations.NullMarked;
