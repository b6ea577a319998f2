package io.ztunnel.core.control;

import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.state.OnDemand;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.core.state.Workload;
import io.ztunnel.core.util.Errors;
import io.ztunnel.xds.ads.ResourceError;
import io.ztunnel.xds.ads.XdsResource;
import io.ztunnel.xds.ads.XdsResourceHandler;
import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.workload.Address;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's end of the Delta ADS stream: holds every workload, service and authorization policy istiod sent,
 * applies each response per resource, and publishes the result as a new {@link ProxyState} snapshot.
 *
 * <h2>Applying a response</h2>
 *
 * <ul>
 *   <li>Removals first, then upserts (the order in which the ADS client updates the versions it reports on
 *       reconnect, so the state and those versions agree). A removed name is looked up as a workload first, then as a
 *       service; an unknown name is ignored.
 *   <li>Each upsert is converted with {@link ProtoConverter}. A resource that fails is reported back as a {@link
 *       ResourceError} (the client NACKs exactly those names with the reason) and is <em>not</em> applied: a
 *       previously accepted version of it stays in force. The other resources of the response are applied.
 *   <li>An upsert replaces whatever the same name held before, even across kinds (a name that turns from a
 *       workload into a service is no longer a workload).
 *   <li>When anything changed, one new snapshot is built from all held resources and swapped into the {@link
 *       StateStore} once per response; a response that changes nothing does not touch the store.
 * </ul>
 *
 * <p>Resources are keyed by their xDS name, which istiod makes equal to the workload uid, the service's {@code
 * namespace/hostname} and the policy's {@code namespace/name}. Rebuilding the snapshot costs O(resources) per response
 * (no per-resource rebuilds), which keeps an initial sync of tens of thousands of workloads to a single build.
 *
 * <p>After each address response, waiters of on-demand addresses named by it (added or removed) are woken ({@link
 * OnDemand#received}).
 *
 * <h2>Certificate warm-up</h2>
 *
 * Workloads on this node ({@code node == NODE_NAME}, non-empty) that speak HBONE (tunnel protocol HBONE or native
 * tunnel) are counted per identity. When an identity gains its first such workload the {@link CertificateWarmer} is
 * asked to prefetch its certificate; when it loses its last one, to forget it. Changes are netted per response, so a
 * workload replaced by another with the same identity in one response neither forgets nor refetches. The daemon
 * passes {@link CertificateWarmer#NONE} in dedicated mode, as upstream prefetches only in shared mode.
 *
 * <p>Threading: the ADS client calls the handler methods on its single thread, one response at a time; they are
 * also {@code synchronized} so diagnostics ({@link #localIdentities()}, counts) may be read from any thread. Store
 * listeners run on the calling thread after each swap. Ownership: the source holds only immutable model objects;
 * it does not own the store or the warmer.
 */
public final class XdsStateSource implements XdsResourceHandler {
    private static final Logger log = LoggerFactory.getLogger(XdsStateSource.class);

    /**
     * Where local workload identities are announced: prefetch when the first HBONE workload of an identity appears on
     * this node, forget when the last one is gone. Implementations must not block (the certificate manager queues
     * the work on its own scheduler).
     */
    public interface CertificateWarmer {
        /** Does nothing: dedicated mode, or no node name. */
        CertificateWarmer NONE = new CertificateWarmer() {
            @Override
            public void prefetch(SpiffeId identity) {}

            @Override
            public void forget(SpiffeId identity) {}
        };

        void prefetch(SpiffeId identity);

        void forget(SpiffeId identity);

        /** Announces identities to {@code manager}'s {@link CertificateManager#prefetch} and {@code forget}. */
        static CertificateWarmer of(CertificateManager manager) {
            Objects.requireNonNull(manager, "manager");
            return new CertificateWarmer() {
                @Override
                public void prefetch(SpiffeId identity) {
                    manager.prefetch(identity);
                }

                @Override
                public void forget(SpiffeId identity) {
                    manager.forget(identity);
                }
            };
        }
    }

    private final StateStore store;
    private final String nodeName;
    private final CertificateWarmer warmer;

    // Guarded by this; in practice touched only by the ADS client's thread.
    private final Map<String, Workload> workloads = new HashMap<>();
    private final Map<String, Service> services = new HashMap<>();
    private final PolicyTable policies = new PolicyTable();
    /** xDS name of a local HBONE workload → its identity. */
    private final Map<String, SpiffeId> localIdentityByName = new HashMap<>();
    /** Identity → number of local HBONE workloads with it (entries are removed at zero). */
    private final Map<SpiffeId, Integer> localIdentityUsers = new HashMap<>();

    /**
     * @param store where snapshots are published; this source should be its only writer
     * @param nodeName {@code NODE_NAME}; empty disables the certificate warm-up (no workload is known to be local)
     * @param warmer told about local identities appearing and disappearing
     */
    public XdsStateSource(StateStore store, String nodeName, CertificateWarmer warmer) {
        this.store = Objects.requireNonNull(store, "store");
        this.nodeName = nodeName == null ? "" : nodeName;
        this.warmer = Objects.requireNonNull(warmer, "warmer");
    }

    /**
     * Starts from a static config ({@code LOCAL_XDS_PATH} / {@code LOCAL_XDS} with xDS on, as upstream loads it): its
     * workloads, services and policies are held under their xDS names (uid, {@code namespace/hostname},
     * {@code namespace/name}) before anything is pushed, and published at once. Pushes then replace or remove them
     * like any resource of the same name.
     */
    public synchronized void seed(ProxyState staticState) {
        IdentityChanges identities = new IdentityChanges();
        for (Workload w : staticState.workloads()) {
            workloads.put(w.uid(), w);
            trackLocal(w.uid(), w, identities);
        }
        for (Service s : staticState.services()) {
            services.put(s.key(), s);
        }
        for (var p : staticState.policies()) { // a state Authorization (the imported one is the proto type)
            policies.put(p.key(), p);
        }
        try {
            publish(
                    "static",
                    staticState.workloadCount() + staticState.services().size(),
                    0,
                    0);
        } finally {
            identities.announce();
        }
    }

    @Override
    public synchronized List<ResourceError> applyAddresses(List<XdsResource<Address>> upserts, List<String> removals) {
        IdentityChanges identities = new IdentityChanges();
        List<ResourceError> errors = new ArrayList<>();
        boolean changed = false;
        int removed = 0;
        for (String name : removals) {
            Workload workload = workloads.remove(name);
            if (workload != null) {
                untrackLocal(name, identities);
                changed = true;
                removed++;
            } else if (services.remove(name) != null) {
                changed = true;
                removed++;
            } else {
                log.atDebug().addKeyValue("name", name).log("xDS removal of an unknown address ignored");
            }
        }
        int applied = 0;
        for (XdsResource<Address> upsert : upserts) {
            String name = upsert.name();
            Address address = upsert.resource();
            try {
                switch (address.getTypeCase()) {
                    case WORKLOAD -> {
                        Workload workload = ProtoConverter.workload(address.getWorkload());
                        services.remove(name);
                        workloads.put(name, workload);
                        trackLocal(name, workload, identities);
                    }
                    case SERVICE -> {
                        Service service = ProtoConverter.service(address.getService());
                        if (workloads.remove(name) != null) {
                            untrackLocal(name, identities);
                        }
                        services.put(name, service);
                    }
                    case TYPE_NOT_SET -> throw new ConversionException("address has neither a workload nor a service");
                }
                changed = true;
                applied++;
            } catch (ConversionException e) {
                errors.add(reject(name, "address", Errors.message(e)));
            } catch (RuntimeException e) {
                // A converter bug must not cost the other resources of the response: reject only this one.
                log.atError()
                        .addKeyValue("name", name)
                        .setCause(e)
                        .log("converting an xDS address failed unexpectedly");
                errors.add(new ResourceError(name, "internal error: " + Errors.message(e)));
            }
        }
        try {
            if (changed) {
                publish("address", applied, removed, errors.size());
            }
        } finally {
            // The maps above already hold the change; certificates must follow them even if publishing failed.
            identities.announce();
            // On-demand waiters re-read the store: only now does it hold this response (a rejected or unknown name
            // still ends its wait, as "not found").
            answered(upserts, removals);
        }
        return errors;
    }

    @Override
    public synchronized List<ResourceError> applyAuthorizations(
            List<XdsResource<Authorization>> upserts, List<String> removals) {
        List<ResourceError> errors = new ArrayList<>();
        boolean changed = false;
        int removed = 0;
        for (String name : removals) {
            if (policies.remove(name)) {
                changed = true;
                removed++;
            } else {
                log.atDebug().addKeyValue("name", name).log("xDS removal of an unknown policy ignored");
            }
        }
        int applied = 0;
        for (XdsResource<Authorization> upsert : upserts) {
            String name = upsert.name();
            try {
                policies.put(name, ProtoConverter.authorization(upsert.resource()));
                changed = true;
                applied++;
            } catch (ConversionException e) {
                errors.add(reject(name, "policy", Errors.message(e)));
            } catch (RuntimeException e) {
                log.atError().addKeyValue("name", name).setCause(e).log("converting an xDS policy failed unexpectedly");
                errors.add(new ResourceError(name, "internal error: " + Errors.message(e)));
            }
        }
        if (changed) {
            publish("authorization", applied, removed, errors.size());
        }
        return errors;
    }

    private void answered(List<XdsResource<Address>> upserts, List<String> removals) {
        OnDemand onDemand = store.onDemand();
        if (onDemand.waiting() == 0) {
            return;
        }
        List<String> names = new ArrayList<>(upserts.size() + removals.size());
        upserts.forEach(u -> names.add(u.name()));
        names.addAll(removals);
        onDemand.received(names);
    }

    private static ResourceError reject(String name, String kind, String reason) {
        log.atWarn()
                .addKeyValue("name", name)
                .addKeyValue("kind", kind)
                .addKeyValue("reason", reason)
                .log("xDS resource rejected; NACKing it and keeping any previous version");
        return new ResourceError(name, reason);
    }

    private void publish(String type, int applied, int removed, int rejected) {
        ProxyState next = ProxyState.of(workloads.values(), services.values(), policies.all());
        store.replace(next);
        log.atDebug()
                .addKeyValue("type", type)
                .addKeyValue("applied", applied)
                .addKeyValue("removed", removed)
                .addKeyValue("rejected", rejected)
                .addKeyValue("workloads", next.workloadCount())
                .addKeyValue("services", services.size())
                .addKeyValue("policies", policies.size())
                .log("xDS state updated");
    }

    // ----- local identities ------------------------------------------------------------------------------------------

    private void trackLocal(String name, Workload workload, IdentityChanges changes) {
        SpiffeId next = localIdentity(workload);
        SpiffeId previous = localIdentityByName.get(name);
        if (Objects.equals(previous, next)) {
            return;
        }
        if (previous != null) {
            untrackLocal(name, changes);
        }
        if (next != null) {
            changes.touch(next);
            localIdentityByName.put(name, next);
            localIdentityUsers.merge(next, 1, Integer::sum);
        }
    }

    private void untrackLocal(String name, IdentityChanges changes) {
        SpiffeId previous = localIdentityByName.remove(name);
        if (previous != null) {
            changes.touch(previous);
            if (localIdentityUsers.merge(previous, -1, Integer::sum) <= 0) {
                localIdentityUsers.remove(previous);
            }
        }
    }

    /** The identity to keep a certificate warm for, or null when the workload is not a local HBONE workload. */
    private @Nullable SpiffeId localIdentity(Workload workload) {
        if (nodeName.isEmpty() || !workload.node().equals(nodeName) || !workload.speaksHbone()) {
            return null;
        }
        try {
            return workload.identity();
        } catch (IllegalArgumentException e) {
            log.atWarn()
                    .addKeyValue("uid", workload.uid())
                    .addKeyValue("reason", Errors.message(e))
                    .log("local workload has no valid SPIFFE identity; not prefetching its certificate");
            return null;
        }
    }

    /** Identities whose use changed during one response: compared before and after, then announced once. */
    private final class IdentityChanges {
        private final Map<SpiffeId, Boolean> usedBefore = new LinkedHashMap<>();

        void touch(SpiffeId identity) {
            usedBefore.putIfAbsent(identity, localIdentityUsers.containsKey(identity));
        }

        void announce() {
            usedBefore.forEach((identity, before) -> {
                boolean after = localIdentityUsers.containsKey(identity);
                if (!before && after) {
                    log.atDebug().addKeyValue("identity", identity).log("prefetching certificate for local workload");
                    warmer.prefetch(identity);
                } else if (before && !after) {
                    log.atDebug()
                            .addKeyValue("identity", identity)
                            .log("last local workload with this identity is gone; forgetting its certificate");
                    warmer.forget(identity);
                }
            });
        }
    }

    // ----- diagnostics -----------------------------------------------------------------------------------------------

    /** Identities of the HBONE workloads on this node, sorted (what is being kept warm). */
    public synchronized List<SpiffeId> localIdentities() {
        List<SpiffeId> out = new ArrayList<>(localIdentityUsers.keySet());
        out.sort(Comparator.comparing(SpiffeId::toString));
        return List.copyOf(out);
    }

    /** Number of workloads held. */
    public synchronized int workloadCount() {
        return workloads.size();
    }

    /** Number of services held. */
    public synchronized int serviceCount() {
        return services.size();
    }

    /** Number of policies held. */
    public synchronized int policyCount() {
        return policies.size();
    }
}
