/** HTTP/2 CONNECT transport: the HBONE server and stream handler (inbound), the connection pool (outbound), headers. */
@NullMarked
package io.ztunnel.core.hbone;

import org.jspecify.annotations.NullMarked;
