package io.ztunnel.xds.local;

import io.ztunnel.xds.XdsResources;
import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.workload.Address;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The content of a local config file, as the same protobuf messages the Delta ADS client
 * delivers, so that the daemon has a single conversion path from control-plane data to its model.
 *
 * <p>Every load of a local config replaces the whole state (upstream resets workloads and
 * services and clears policies on each load); a {@code LocalConfig} is therefore a complete
 * snapshot, not a delta.
 *
 * <p>Defaults: fields the YAML omits are left at their protobuf defaults, exactly like a WDS
 * resource that omits them. In particular an omitted {@code trustDomain}, {@code serviceAccount}
 * or {@code clusterId} is the empty string and an omitted {@code capacity} is unset; the consumer
 * applies the WDS defaults ({@code cluster.local}, {@code default}, {@code Kubernetes}, 1). Note
 * that upstream's local loader does not apply the first three defaults, so a local workload that
 * omits them has an empty identity part there; set them explicitly in the file.
 *
 * @param workloads one {@code Address} holding a {@code Workload} per workload, in file order
 * @param services one {@code Address} holding a {@code Service} per service, in file order
 * @param policies one {@code Authorization} per policy, in file order
 */
public record LocalConfig(List<Address> workloads, List<Address> services, List<Authorization> policies) {

    /** Immutable copies are taken; the lists are never null. */
    public LocalConfig {
        workloads = List.copyOf(workloads);
        services = List.copyOf(services);
        policies = List.copyOf(policies);
    }

    /** A config with nothing in it. */
    public static LocalConfig empty() {
        return new LocalConfig(List.of(), List.of(), List.of());
    }

    /** Workloads then services, in file order. */
    public List<Address> addresses() {
        List<Address> all = new ArrayList<>(workloads.size() + services.size());
        all.addAll(workloads);
        all.addAll(services);
        return Collections.unmodifiableList(all);
    }

    /**
     * Addresses keyed by xDS resource name (workload uid, or {@code namespace/hostname}), in file
     * order. Names are unique: the parser rejects duplicates.
     */
    public Map<String, Address> addressesByName() {
        Map<String, Address> byName = new LinkedHashMap<>();
        for (Address a : addresses()) {
            byName.put(XdsResources.nameOf(a), a);
        }
        return Collections.unmodifiableMap(byName);
    }

    /** Policies keyed by xDS resource name ({@code namespace/name}), in file order. */
    public Map<String, Authorization> policiesByName() {
        Map<String, Authorization> byName = new LinkedHashMap<>();
        for (Authorization p : policies) {
            byName.put(XdsResources.nameOf(p), p);
        }
        return Collections.unmodifiableMap(byName);
    }
}
