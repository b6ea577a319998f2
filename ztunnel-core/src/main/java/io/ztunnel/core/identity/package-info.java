/** SPIFFE identities, workload certificates (local and istiod CAs), TLS material and policy, revocation. */
@NullMarked
package io.ztunnel.core.identity;

import org.jspecify.annotations.NullMarked;
