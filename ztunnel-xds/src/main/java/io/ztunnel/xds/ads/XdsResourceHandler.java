package io.ztunnel.xds.ads;

import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.workload.Address;
import java.util.List;

/**
 * Receives the resources of each Delta ADS response; implemented by the daemon, which converts
 * them into its own model.
 *
 * <p>Processing is per resource, as upstream does it: the handler applies every upsert and
 * removal it can and returns the resources it rejected. The client then ACKs the response if the
 * list is empty, or NACKs it listing exactly those names (resources that could not even be
 * decoded are added by the client and never reach the handler). Rejected resources are treated
 * as not held, so they are not listed in {@code initial_resource_versions} on reconnect and
 * istiod sends them again.
 *
 * <p>Removals name resources that istiod deleted; a name that is not known should be ignored. A
 * name may be either a workload uid or a service {@code namespace/hostname}; upstream tries the
 * workload first.
 *
 * <p>Threading: the client calls the handler on its own single thread, one response at a time, in
 * the order responses arrive; the handler may block briefly (it delays the ACK and the next
 * response) but must not call back into the client's {@code close()}. An exception thrown by the
 * handler NACKs every upsert of that response.
 */
public interface XdsResourceHandler {

    /**
     * Applies one {@code istio.workload.Address} response.
     *
     * @param upserts added or updated workloads and services, each replacing any previous version
     * @param removals names of deleted resources
     * @return the resources that were rejected (empty if all were applied)
     */
    List<ResourceError> applyAddresses(List<XdsResource<Address>> upserts, List<String> removals);

    /**
     * Applies one {@code istio.security.Authorization} response.
     *
     * @param upserts added or updated policies
     * @param removals names of deleted policies
     * @return the policies that were rejected (empty if all were applied)
     */
    List<ResourceError> applyAuthorizations(List<XdsResource<Authorization>> upserts, List<String> removals);
}
