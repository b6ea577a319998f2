package io.ztunnel.core.control;

import com.google.protobuf.ByteString;
import com.google.protobuf.ProtocolMessageEnum;
import io.ztunnel.core.state.Authorization;
import io.ztunnel.core.state.Cidr;
import io.ztunnel.core.state.GatewayAddress;
import io.ztunnel.core.state.Locality;
import io.ztunnel.core.state.NamespacedHostname;
import io.ztunnel.core.state.NetworkAddress;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import io.ztunnel.core.util.Errors;
import io.ztunnel.xds.proto.security.Action;
import io.ztunnel.xds.proto.security.Address;
import io.ztunnel.xds.proto.security.AuthorizationOrBuilder;
import io.ztunnel.xds.proto.security.Match;
import io.ztunnel.xds.proto.security.ServiceAccountMatch;
import io.ztunnel.xds.proto.security.StringMatch;
import io.ztunnel.xds.proto.workload.GatewayAddressOrBuilder;
import io.ztunnel.xds.proto.workload.LoadBalancing;
import io.ztunnel.xds.proto.workload.NetworkMode;
import io.ztunnel.xds.proto.workload.Port;
import io.ztunnel.xds.proto.workload.PortList;
import io.ztunnel.xds.proto.workload.ServiceOrBuilder;
import io.ztunnel.xds.proto.workload.Visibility;
import io.ztunnel.xds.proto.workload.WorkloadOrBuilder;
import io.ztunnel.xds.proto.workload.WorkloadStatus;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns {@code istio.workload} and {@code istio.security} messages (from xDS or the local config file) into the
 * model, applying the WDS defaults and rejecting what ztunnel rejects: addresses that are not 4 or 16 bytes, enum
 * values out of range, the {@code LEGACY_ISTIO_MTLS} tunnel protocol, ports out of range, empty keys. Every error
 * names the field. Stateless.
 */
public final class ProtoConverter {
    private ProtoConverter() {}

    public static Workload workload(WorkloadOrBuilder w) throws ConversionException {
        if (w.getUid().isEmpty()) {
            throw new ConversionException("uid is empty");
        }
        List<InetAddress> addresses = new ArrayList<>();
        for (int i = 0; i < w.getAddressesCount(); i++) {
            addresses.add(ip(w.getAddresses(i), "addresses[" + i + "]"));
        }
        Workload.TunnelProtocol protocol = switch (known(w.getTunnelProtocol(), "tunnel_protocol")) {
            case NONE -> Workload.TunnelProtocol.NONE;
            case HBONE -> Workload.TunnelProtocol.HBONE;
            case LEGACY_ISTIO_MTLS ->
                throw new ConversionException("tunnel_protocol LEGACY_ISTIO_MTLS is not supported");
            case UNRECOGNIZED -> throw new IllegalStateException();
        };
        Map<String, Map<Integer, Integer>> services = new LinkedHashMap<>();
        for (Map.Entry<String, PortList> e : w.getServicesMap().entrySet()) {
            services.put(e.getKey(), ports(e.getValue().getPortsList(), "services[" + e.getKey() + "]"));
        }
        Workload.ApplicationTunnel tunnel = null;
        if (w.hasApplicationTunnel()) {
            var t = w.getApplicationTunnel();
            tunnel = new Workload.ApplicationTunnel(
                    switch (known(t.getProtocol(), "application_tunnel.protocol")) {
                        case NONE -> Workload.ApplicationTunnel.Protocol.NONE;
                        case PROXY -> Workload.ApplicationTunnel.Protocol.PROXY;
                        case UNRECOGNIZED -> throw new IllegalStateException();
                    },
                    port(t.getPort(), "application_tunnel.port"));
        }
        return Workload.builder(w.getUid())
                .name(w.getName())
                .namespace(w.getNamespace())
                .addresses(addresses)
                .hostname(w.getHostname())
                .network(w.getNetwork())
                .tunnelProtocol(protocol)
                .trustDomain(w.getTrustDomain())
                .serviceAccount(w.getServiceAccount())
                .waypoint(w.hasWaypoint() ? gateway(w.getWaypoint(), "waypoint") : null)
                .networkGateway(w.hasNetworkGateway() ? gateway(w.getNetworkGateway(), "network_gateway") : null)
                .node(w.getNode())
                .canonicalName(w.getCanonicalName())
                .canonicalRevision(w.getCanonicalRevision())
                .workloadType(
                        switch (known(w.getWorkloadType(), "workload_type")) {
                            case DEPLOYMENT -> Workload.WorkloadType.DEPLOYMENT;
                            case CRONJOB -> Workload.WorkloadType.CRONJOB;
                            case POD -> Workload.WorkloadType.POD;
                            case JOB -> Workload.WorkloadType.JOB;
                            case UNRECOGNIZED -> throw new IllegalStateException();
                        })
                .workloadName(w.getWorkloadName())
                .nativeTunnel(w.getNativeTunnel())
                .applicationTunnel(tunnel)
                .services(services)
                .authorizationPolicies(w.getAuthorizationPoliciesList())
                .status(
                        known(w.getStatus(), "status") == WorkloadStatus.UNHEALTHY
                                ? Workload.HealthStatus.UNHEALTHY
                                : Workload.HealthStatus.HEALTHY)
                .clusterId(w.getClusterId())
                .locality(
                        w.hasLocality()
                                ? new Locality(
                                        w.getLocality().getRegion(),
                                        w.getLocality().getZone(),
                                        w.getLocality().getSubzone())
                                : Locality.NONE)
                .networkMode(
                        known(w.getNetworkMode(), "network_mode") == NetworkMode.HOST_NETWORK
                                ? Workload.NetworkMode.HOST_NETWORK
                                : Workload.NetworkMode.STANDARD)
                .capacity(
                        w.hasCapacity()
                                ? (int) Math.min(
                                        Integer.toUnsignedLong(w.getCapacity().getValue()), Integer.MAX_VALUE)
                                : 1)
                .build();
    }

    public static Service service(ServiceOrBuilder s) throws ConversionException {
        if (s.getHostname().isEmpty()) {
            throw new ConversionException("hostname is empty");
        }
        List<NetworkAddress> vips = new ArrayList<>();
        List<Service.CidrVip> cidrs = new ArrayList<>();
        for (int i = 0; i < s.getAddressesCount(); i++) {
            var a = s.getAddresses(i);
            String field = "addresses[" + i + "]";
            InetAddress ip = ip(a.getAddress(), field);
            // From the wire length: Java turns 16-byte ::ffff:a.b.c.d into an IPv4 address, whose /128 is still "one
            // address", not a prefix.
            int full = a.getAddress().size() * 8;
            if (a.hasLength() && a.getLength() != full) {
                try {
                    cidrs.add(new Service.CidrVip(a.getNetwork(), new Cidr(ip, a.getLength())));
                } catch (IllegalArgumentException e) {
                    throw new ConversionException(field + ".length: " + Errors.message(e));
                }
            } else {
                vips.add(new NetworkAddress(a.getNetwork(), ip));
            }
        }
        List<Service.WeightedWaypoint> weighted = new ArrayList<>();
        for (int i = 0; i < s.getWeightedWaypointsCount(); i++) {
            var ww = s.getWeightedWaypoints(i);
            weighted.add(
                    new Service.WeightedWaypoint(gateway(ww.getDestination(), "weighted_waypoints[" + i + "]"), (int)
                            Math.min(Integer.toUnsignedLong(ww.getWeight()), Integer.MAX_VALUE)));
        }
        Service.LoadBalancing lb = null;
        if (s.hasLoadBalancing()) {
            var l = s.getLoadBalancing();
            List<Service.LoadBalancing.Scope> scopes = new ArrayList<>();
            for (int i = 0; i < l.getRoutingPreferenceCount(); i++) {
                var scope = known(l.getRoutingPreference(i), "load_balancing.routing_preference[" + i + "]");
                switch (scope) {
                    case REGION -> scopes.add(Service.LoadBalancing.Scope.REGION);
                    case ZONE -> scopes.add(Service.LoadBalancing.Scope.ZONE);
                    case SUBZONE -> scopes.add(Service.LoadBalancing.Scope.SUBZONE);
                    case NODE -> scopes.add(Service.LoadBalancing.Scope.NODE);
                    case CLUSTER -> scopes.add(Service.LoadBalancing.Scope.CLUSTER);
                    case NETWORK -> scopes.add(Service.LoadBalancing.Scope.NETWORK);
                    case UNSPECIFIED_SCOPE -> {}
                    case UNRECOGNIZED -> throw new IllegalStateException();
                }
            }
            lb = new Service.LoadBalancing(
                    scopes,
                    switch (known(l.getMode(), "load_balancing.mode")) {
                        case UNSPECIFIED_MODE -> Service.LoadBalancing.Mode.UNSPECIFIED;
                        case STRICT -> Service.LoadBalancing.Mode.STRICT;
                        case FAILOVER -> Service.LoadBalancing.Mode.FAILOVER;
                        case PASSTHROUGH -> Service.LoadBalancing.Mode.PASSTHROUGH;
                        case UNRECOGNIZED -> throw new IllegalStateException();
                    },
                    known(l.getHealthPolicy(), "load_balancing.health_policy") == LoadBalancing.HealthPolicy.ALLOW_ALL
                            ? Service.LoadBalancing.HealthPolicy.ALLOW_ALL
                            : Service.LoadBalancing.HealthPolicy.ONLY_HEALTHY);
        }
        return Service.builder(s.getNamespace(), s.getName(), s.getHostname())
                .vips(vips)
                .cidrVips(cidrs)
                .ports(ports(s.getPortsList(), "ports"))
                .subjectAltNames(s.getSubjectAltNamesList())
                .waypoint(s.hasWaypoint() ? gateway(s.getWaypoint(), "waypoint") : null)
                .weightedWaypoints(weighted)
                .loadBalancing(lb)
                .ipFamilies(
                        switch (known(s.getIpFamilies(), "ip_families")) {
                            case AUTOMATIC -> Service.IpFamilies.AUTOMATIC;
                            case IPV4_ONLY -> Service.IpFamilies.IPV4_ONLY;
                            case IPV6_ONLY -> Service.IpFamilies.IPV6_ONLY;
                            case DUAL -> Service.IpFamilies.DUAL;
                            case UNRECOGNIZED -> throw new IllegalStateException();
                        })
                .canonical(s.getCanonical())
                .visibility(
                        known(s.getVisibility(), "visibility") == Visibility.NAMESPACE
                                ? Service.Visibility.NAMESPACE
                                : Service.Visibility.PUBLIC)
                .build();
    }

    public static Authorization authorization(AuthorizationOrBuilder a) throws ConversionException {
        if (a.getName().isEmpty()) {
            throw new ConversionException("name is empty");
        }
        List<Authorization.Rule> rules = new ArrayList<>();
        for (int r = 0; r < a.getRulesCount(); r++) {
            List<Authorization.Clause> clauses = new ArrayList<>();
            for (int c = 0; c < a.getRules(r).getClausesCount(); c++) {
                List<Authorization.Match> matches = new ArrayList<>();
                var clause = a.getRules(r).getClauses(c);
                for (int m = 0; m < clause.getMatchesCount(); m++) {
                    matches.add(match(clause.getMatches(m), "rules[" + r + "].clauses[" + c + "].matches[" + m + "]"));
                }
                clauses.add(new Authorization.Clause(matches));
            }
            rules.add(new Authorization.Rule(clauses));
        }
        return new Authorization(
                a.getName(),
                a.getNamespace(),
                switch (known(a.getScope(), "scope")) {
                    case GLOBAL -> Authorization.Scope.GLOBAL;
                    case NAMESPACE -> Authorization.Scope.NAMESPACE;
                    case WORKLOAD_SELECTOR -> Authorization.Scope.WORKLOAD_SELECTOR;
                    case UNRECOGNIZED -> throw new IllegalStateException();
                },
                known(a.getAction(), "action") == Action.DENY ? Authorization.Action.DENY : Authorization.Action.ALLOW,
                rules,
                a.getDryRun());
    }

    private static Authorization.Match match(Match m, String field) throws ConversionException {
        return new Authorization.Match(
                strings(m.getNamespacesList(), field + ".namespaces"),
                strings(m.getNotNamespacesList(), field + ".not_namespaces"),
                serviceAccounts(m.getServiceAccountsList()),
                serviceAccounts(m.getNotServiceAccountsList()),
                strings(m.getPrincipalsList(), field + ".principals"),
                strings(m.getNotPrincipalsList(), field + ".not_principals"),
                cidrs(m.getSourceIpsList(), field + ".source_ips"),
                cidrs(m.getNotSourceIpsList(), field + ".not_source_ips"),
                cidrs(m.getDestinationIpsList(), field + ".destination_ips"),
                cidrs(m.getNotDestinationIpsList(), field + ".not_destination_ips"),
                portList(m.getDestinationPortsList(), field + ".destination_ports"),
                portList(m.getNotDestinationPortsList(), field + ".not_destination_ports"));
    }

    private static List<Authorization.StringMatch> strings(List<StringMatch> in, String field)
            throws ConversionException {
        List<Authorization.StringMatch> out = new ArrayList<>(in.size());
        for (int i = 0; i < in.size(); i++) {
            StringMatch s = in.get(i);
            out.add(
                    switch (s.getMatchTypeCase()) {
                        case EXACT -> new Authorization.StringMatch.Exact(s.getExact());
                        case PREFIX -> new Authorization.StringMatch.Prefix(s.getPrefix());
                        case SUFFIX -> new Authorization.StringMatch.Suffix(s.getSuffix());
                        case PRESENCE -> new Authorization.StringMatch.Presence();
                        case MATCHTYPE_NOT_SET ->
                            throw new ConversionException(field + "[" + i + "]: no match type set");
                    });
        }
        return out;
    }

    private static List<Authorization.ServiceAccountMatch> serviceAccounts(List<ServiceAccountMatch> in) {
        List<Authorization.ServiceAccountMatch> out = new ArrayList<>(in.size());
        for (var sa : in) {
            out.add(new Authorization.ServiceAccountMatch(sa.getNamespace(), sa.getServiceAccount()));
        }
        return out;
    }

    private static List<Cidr> cidrs(List<Address> in, String field) throws ConversionException {
        List<Cidr> out = new ArrayList<>(in.size());
        for (int i = 0; i < in.size(); i++) {
            InetAddress ip = ip(in.get(i).getAddress(), field + "[" + i + "]");
            try {
                out.add(new Cidr(ip, in.get(i).getLength()));
            } catch (IllegalArgumentException e) {
                throw new ConversionException(field + "[" + i + "].length: " + Errors.message(e));
            }
        }
        return out;
    }

    private static List<Integer> portList(List<Integer> in, String field) throws ConversionException {
        List<Integer> out = new ArrayList<>(in.size());
        for (int i = 0; i < in.size(); i++) {
            out.add(port(in.get(i), field + "[" + i + "]"));
        }
        return out;
    }

    private static Map<Integer, Integer> ports(List<Port> in, String field) throws ConversionException {
        Map<Integer, Integer> out = new LinkedHashMap<>();
        for (int i = 0; i < in.size(); i++) {
            out.put(
                    port(in.get(i).getServicePort(), field + "[" + i + "].service_port"),
                    port(in.get(i).getTargetPort(), field + "[" + i + "].target_port"));
        }
        return out;
    }

    private static int port(int value, String field) throws ConversionException {
        long unsigned = Integer.toUnsignedLong(value);
        if (unsigned > 65535) {
            throw new ConversionException(field + ": port " + unsigned + " out of range");
        }
        return (int) unsigned;
    }

    private static GatewayAddress gateway(GatewayAddressOrBuilder g, String field) throws ConversionException {
        GatewayAddress.Destination destination = switch (g.getDestinationCase()) {
            case HOSTNAME ->
                new GatewayAddress.Hostname(new NamespacedHostname(
                        g.getHostname().getNamespace(), g.getHostname().getHostname()));
            case ADDRESS ->
                new GatewayAddress.Address(new NetworkAddress(
                        g.getAddress().getNetwork(), ip(g.getAddress().getAddress(), field + ".address")));
            case DESTINATION_NOT_SET -> throw new ConversionException(field + ": no destination set");
        };
        return new GatewayAddress(destination, port(g.getHboneMtlsPort(), field + ".hbone_mtls_port"));
    }

    private static InetAddress ip(ByteString bytes, String field) throws ConversionException {
        if (bytes.size() != 4 && bytes.size() != 16) {
            throw new ConversionException(field + ": " + bytes.size() + " bytes is not an IP address (4 or 16)");
        }
        try {
            return InetAddress.getByAddress(bytes.toByteArray());
        } catch (UnknownHostException e) {
            throw new ConversionException(field + ": " + Errors.message(e));
        }
    }

    private static <E extends Enum<E> & ProtocolMessageEnum> E known(E value, String field) throws ConversionException {
        if (value.name().equals("UNRECOGNIZED")) {
            throw new ConversionException(field + ": unknown enum value");
        }
        return value;
    }
}
