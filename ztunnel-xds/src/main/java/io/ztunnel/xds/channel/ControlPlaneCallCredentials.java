package io.ztunnel.xds.channel;

import io.grpc.CallCredentials;
import io.grpc.Metadata;
import io.grpc.Status;
import io.ztunnel.xds.ErrorText;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executor;

/**
 * Adds istiod's request metadata to every call: {@code authorization: Bearer <token>} (the token
 * read afresh for each call), {@code clusterid: <CLUSTER_ID>}, and the extra headers
 * ({@code XDS_HEADER_*} / {@code CA_HEADER_*}).
 *
 * <p>The token is read on grpc's application executor, never on an event loop. A token that
 * cannot be read fails the call with {@code UNAUTHENTICATED} naming the file. Thread-safe.
 */
final class ControlPlaneCallCredentials extends CallCredentials {
    static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    static final Metadata.Key<String> CLUSTER_ID = Metadata.Key.of("clusterid", Metadata.ASCII_STRING_MARSHALLER);

    private final AuthToken token;
    private final Optional<String> clusterId;
    private final List<Map.Entry<Metadata.Key<String>, String>> headers;

    ControlPlaneCallCredentials(
            AuthToken token, Optional<String> clusterId, List<Map.Entry<Metadata.Key<String>, String>> headers) {
        this.token = token;
        this.clusterId = clusterId;
        this.headers = List.copyOf(headers);
    }

    @Override
    public void applyRequestMetadata(RequestInfo requestInfo, Executor appExecutor, MetadataApplier applier) {
        appExecutor.execute(() -> {
            Metadata metadata = new Metadata();
            try {
                Optional<String> current = token.read();
                current.ifPresent(t -> metadata.put(AUTHORIZATION, "Bearer " + t));
            } catch (IOException | RuntimeException e) {
                applier.fail(Status.UNAUTHENTICATED
                        .withDescription("no istiod auth token: " + ErrorText.of(e))
                        .withCause(e));
                return;
            }
            clusterId.ifPresent(id -> metadata.put(CLUSTER_ID, id));
            for (Map.Entry<Metadata.Key<String>, String> header : headers) {
                metadata.put(header.getKey(), header.getValue());
            }
            applier.apply(metadata);
        });
    }
}
