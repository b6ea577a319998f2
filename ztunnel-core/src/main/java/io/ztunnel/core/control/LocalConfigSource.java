package io.ztunnel.core.control;

import io.ztunnel.core.state.Authorization;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.core.state.Workload;
import io.ztunnel.core.util.Errors;
import io.ztunnel.xds.XdsResources;
import io.ztunnel.xds.local.LocalConfig;
import io.ztunnel.xds.proto.workload.Address;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Feeds the state from a local config ({@code LOCAL_XDS_PATH} file or {@code LOCAL_XDS} inline YAML): each load
 * replaces the whole state, as in ztunnel. A config with a resource that cannot be used is rejected as a whole, with
 * a message naming the resource and field, and the previous state stays in force.
 *
 * <p>Thread-safe; loads are serialized.
 */
public final class LocalConfigSource {
    private static final Logger log = LoggerFactory.getLogger(LocalConfigSource.class);

    private final StateStore store;

    public LocalConfigSource(StateStore store) {
        this.store = store;
    }

    /** Converts and installs {@code config}. */
    public synchronized ProxyState apply(LocalConfig config, String source) throws ConversionException {
        ProxyState next = toState(config);
        store.replace(next);
        log.atInfo()
                .addKeyValue("source", source)
                .addKeyValue("workloads", next.workloadCount())
                .addKeyValue("services", next.services().size())
                .addKeyValue("policies", next.policies().size())
                .log("local config loaded");
        return next;
    }

    /** The state a local config describes. */
    public static ProxyState toState(LocalConfig config) throws ConversionException {
        List<Workload> workloads = new ArrayList<>();
        List<Service> services = new ArrayList<>();
        for (Address a : config.addresses()) {
            String name = XdsResources.nameOf(a);
            try {
                switch (a.getTypeCase()) {
                    case WORKLOAD -> workloads.add(ProtoConverter.workload(a.getWorkload()));
                    case SERVICE -> services.add(ProtoConverter.service(a.getService()));
                    case TYPE_NOT_SET -> throw new ConversionException("neither workload nor service");
                }
            } catch (ConversionException e) {
                throw new ConversionException(
                        (a.hasWorkload() ? "workload " : "service ") + name + ": " + Errors.message(e));
            }
        }
        List<Authorization> policies = new ArrayList<>();
        for (var p : config.policies()) {
            try {
                policies.add(ProtoConverter.authorization(p));
            } catch (ConversionException e) {
                throw new ConversionException(
                        "policy " + p.getNamespace() + "/" + p.getName() + ": " + Errors.message(e));
            }
        }
        return ProxyState.of(workloads, services, policies);
    }
}
