/** In-pod mode: one proxy set per pod enrolled over ZDS, with the sockets made in its network namespace. */
@NullMarked
package io.ztunnel.core.inpod;

import org.jspecify.annotations.NullMarked;
