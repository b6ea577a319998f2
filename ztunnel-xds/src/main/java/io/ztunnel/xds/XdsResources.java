package io.ztunnel.xds;

import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.workload.Address;

/**
 * The two xDS resource types ztunnel subscribes to, their type URLs, and how their resource
 * names are formed.
 *
 * <ul>
 *   <li>{@value #ADDRESS_TYPE_URL}: a workload is named by its {@code uid}, a service by {@code
 *       namespace/hostname}.
 *   <li>{@value #AUTHORIZATION_TYPE_URL}: named {@code namespace/name}.
 * </ul>
 *
 * <p>Stateless; all methods are thread-safe.
 */
public final class XdsResources {
    /** Type URL of {@code istio.workload.Address} (workloads and services). */
    public static final String ADDRESS_TYPE_URL = "type.googleapis.com/istio.workload.Address";

    /** Type URL of {@code istio.security.Authorization} (L4 policies). */
    public static final String AUTHORIZATION_TYPE_URL = "type.googleapis.com/istio.security.Authorization";

    private XdsResources() {}

    /**
     * The xDS resource name of an address: the workload's uid, or {@code namespace/hostname} for a
     * service.
     *
     * @throws IllegalArgumentException if the address holds neither a workload nor a service
     */
    public static String nameOf(Address address) {
        return switch (address.getTypeCase()) {
            case WORKLOAD -> address.getWorkload().getUid();
            case SERVICE ->
                address.getService().getNamespace() + "/" + address.getService().getHostname();
            case TYPE_NOT_SET -> throw new IllegalArgumentException("address has neither workload nor service");
        };
    }

    /** The xDS resource name of a policy: {@code namespace/name}. */
    public static String nameOf(Authorization policy) {
        return policy.getNamespace() + "/" + policy.getName();
    }
}
