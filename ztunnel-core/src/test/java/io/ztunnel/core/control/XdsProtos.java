package io.ztunnel.core.control;

import com.google.protobuf.ByteString;
import io.ztunnel.xds.XdsResources;
import io.ztunnel.xds.ads.XdsResource;
import io.ztunnel.xds.proto.security.Action;
import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.security.Clause;
import io.ztunnel.xds.proto.security.Match;
import io.ztunnel.xds.proto.security.Rule;
import io.ztunnel.xds.proto.security.Scope;
import io.ztunnel.xds.proto.security.StringMatch;
import io.ztunnel.xds.proto.workload.Address;
import io.ztunnel.xds.proto.workload.NetworkAddress;
import io.ztunnel.xds.proto.workload.Port;
import io.ztunnel.xds.proto.workload.PortList;
import io.ztunnel.xds.proto.workload.Service;
import io.ztunnel.xds.proto.workload.TunnelProtocol;
import io.ztunnel.xds.proto.workload.Workload;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;

/** Builders for the istio.workload / istio.security protos the xDS tests push. Stateless. */
public final class XdsProtos {
    private XdsProtos() {}

    /** The uid istiod gives a Kubernetes pod. */
    public static String uid(String namespace, String name) {
        return "Kubernetes//Pod/" + namespace + "/" + name;
    }

    /** An HBONE pod workload whose service account is its name. */
    public static Workload.Builder workload(String namespace, String name, String ip) {
        return Workload.newBuilder()
                .setUid(uid(namespace, name))
                .setName(name)
                .setNamespace(namespace)
                .setServiceAccount(name)
                .setTrustDomain("cluster.local")
                .addAddresses(ip(ip))
                .setTunnelProtocol(TunnelProtocol.HBONE);
    }

    /** Adds endpoint membership of {@code namespace/hostname} with one port mapping. */
    public static Workload.Builder member(Workload.Builder w, String serviceKey, int port, int target) {
        return w.putServices(
                serviceKey,
                PortList.newBuilder()
                        .addPorts(Port.newBuilder().setServicePort(port).setTargetPort(target))
                        .build());
    }

    public static Address address(Workload.Builder workload) {
        return Address.newBuilder().setWorkload(workload).build();
    }

    public static Address address(Workload workload) {
        return Address.newBuilder().setWorkload(workload).build();
    }

    /** A service {@code <name>.<namespace>.svc.cluster.local} with one VIP and one port. */
    public static Address service(String namespace, String name, String vip, int port, int target) {
        return Address.newBuilder()
                .setService(Service.newBuilder()
                        .setName(name)
                        .setNamespace(namespace)
                        .setHostname(name + "." + namespace + ".svc.cluster.local")
                        .addAddresses(NetworkAddress.newBuilder().setAddress(ip(vip)))
                        .addPorts(Port.newBuilder().setServicePort(port).setTargetPort(target)))
                .build();
    }

    /** A namespace-scoped policy matching one principal (without {@code spiffe://}). */
    public static Authorization principalPolicy(String namespace, String name, Action action, String principal) {
        return Authorization.newBuilder()
                .setName(name)
                .setNamespace(namespace)
                .setScope(Scope.NAMESPACE)
                .setAction(action)
                .addRules(Rule.newBuilder()
                        .addClauses(Clause.newBuilder()
                                .addMatches(Match.newBuilder()
                                        .addPrincipals(StringMatch.newBuilder().setExact(principal)))))
                .build();
    }

    public static XdsResource<Address> resource(Address address) {
        return new XdsResource<>(XdsResources.nameOf(address), "v1", address, List.of());
    }

    public static XdsResource<Address> resource(String name, Address address) {
        return new XdsResource<>(name, "v1", address, List.of());
    }

    public static XdsResource<Authorization> resource(Authorization policy) {
        return new XdsResource<>(XdsResources.nameOf(policy), "v1", policy, List.of());
    }

    public static ByteString ip(String literal) {
        try {
            return ByteString.copyFrom(InetAddress.getByName(literal).getAddress());
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }
}
