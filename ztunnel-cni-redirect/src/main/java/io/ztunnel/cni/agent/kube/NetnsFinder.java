package io.ztunnel.cni.agent.kube;

import io.ztunnel.cni.linux.NetnsId;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Finds the network namespaces of running pods by their IPs ({@link ProcNetnsFinder} in
 * production). Called on the pod source's thread only.
 */
@FunctionalInterface
public interface NetnsFinder {
    /** A namespace found for a pod: a path that opens it, and its identity. */
    record Found(Path path, NetnsId id) {
        public Found {
            Objects.requireNonNull(path, "path");
            Objects.requireNonNull(id, "id");
        }
    }

    /**
     * One search for several pods: {@code wanted} maps a key (the pod uid) to the pod's IPs; the
     * answer maps each key whose namespace was found. A namespace is given to at most one key.
     *
     * @throws IOException if the search cannot run at all
     */
    Map<String, Found> find(Map<String, List<InetAddress>> wanted) throws IOException;
}
