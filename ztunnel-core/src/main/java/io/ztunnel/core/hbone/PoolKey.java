package io.ztunnel.core.hbone;

import io.ztunnel.core.identity.SpiffeId;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;

/**
 * Which pooled HBONE connections a request may share, as in ztunnel: the same source identity (the client certificate
 * presented), the same expected server identities (in order), the same next hop, and the same downstream source IP.
 * Immutable.
 */
public record PoolKey(
        SpiffeId source, List<SpiffeId> expectedIdentities, InetSocketAddress destination, InetAddress sourceIp) {

    public PoolKey {
        expectedIdentities = List.copyOf(expectedIdentities);
        if (expectedIdentities.isEmpty()) {
            throw new IllegalArgumentException("an HBONE connection needs at least one expected server identity");
        }
    }
}
