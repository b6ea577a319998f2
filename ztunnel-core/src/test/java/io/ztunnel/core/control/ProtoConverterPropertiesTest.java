package io.ztunnel.core.control;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UInt32Value;
import io.ztunnel.xds.proto.security.Address;
import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.security.Clause;
import io.ztunnel.xds.proto.security.Match;
import io.ztunnel.xds.proto.security.Rule;
import io.ztunnel.xds.proto.security.ServiceAccountMatch;
import io.ztunnel.xds.proto.security.StringMatch;
import io.ztunnel.xds.proto.workload.ApplicationTunnel;
import io.ztunnel.xds.proto.workload.GatewayAddress;
import io.ztunnel.xds.proto.workload.LoadBalancing;
import io.ztunnel.xds.proto.workload.Locality;
import io.ztunnel.xds.proto.workload.NamespacedHostname;
import io.ztunnel.xds.proto.workload.NetworkAddress;
import io.ztunnel.xds.proto.workload.Port;
import io.ztunnel.xds.proto.workload.PortList;
import io.ztunnel.xds.proto.workload.Service;
import io.ztunnel.xds.proto.workload.TunnelProtocol;
import io.ztunnel.xds.proto.workload.WeightedWaypoint;
import io.ztunnel.xds.proto.workload.Workload;
import java.net.InetAddress;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Builders;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.statistics.Statistics;

/**
 * {@link ProtoConverter} on random {@code istio.workload} / {@code istio.security} messages: whatever istiod (or a
 * corrupted stream) sends, conversion either succeeds or fails with a {@link ConversionException} that says why;
 * nothing else escapes (an escaping exception would NACK the whole response, or worse). Field values are drawn to hit
 * the edges: addresses of every length, enum numbers out of range, uint32 values above 65535 and above 2^31, empty
 * strings, missing oneofs. Well-formed workloads always convert, keeping their addresses and ports.
 */
class ProtoConverterPropertiesTest {

    @Property(tries = 1500)
    void aWorkloadConvertsOrIsRejectedWithAReason(@ForAll("workloads") Workload workload) {
        convertsOrIsRejected(() -> ProtoConverter.workload(workload), converted -> {
            assertThat(converted.uid()).isEqualTo(workload.getUid());
            assertThat(converted.addresses()).hasSize(workload.getAddressesCount());
            assertThat(converted.capacity()).isNotNegative();
        });
    }

    @Property(tries = 1500)
    void aServiceConvertsOrIsRejectedWithAReason(@ForAll("services") Service service) {
        convertsOrIsRejected(() -> ProtoConverter.service(service), converted -> {
            assertThat(converted.key()).isEqualTo(service.getNamespace() + "/" + service.getHostname());
            assertThat(converted.vips().size() + converted.cidrVips().size()).isEqualTo(service.getAddressesCount());
            assertThat(converted.weightedWaypoints())
                    .allSatisfy(w -> assertThat(w.weight()).isNotNegative());
        });
    }

    @Property(tries = 1500)
    void aPolicyConvertsOrIsRejectedWithAReason(@ForAll("policies") Authorization policy) {
        convertsOrIsRejected(() -> ProtoConverter.authorization(policy), converted -> {
            assertThat(converted.key()).isEqualTo(policy.getNamespace() + "/" + policy.getName());
            assertThat(converted.rules()).hasSize(policy.getRulesCount());
        });
    }

    /** A conversion that may only succeed (then {@code check} holds) or fail with a reason; both must be common. */
    private static <T> void convertsOrIsRejected(Conversion<T> conversion, Consumer<T> check) {
        try {
            check.accept(conversion.convert());
            Statistics.collect("converted");
        } catch (ConversionException e) {
            assertThat(e.getMessage()).isNotBlank();
            Statistics.collect("rejected");
        }
        bothOutcomesAreExercised();
    }

    @FunctionalInterface
    private interface Conversion<T> {
        T convert() throws ConversionException;
    }

    /** The generators must reach both outcomes often, or the property says little. */
    private static void bothOutcomesAreExercised() {
        Statistics.coverage(coverage -> {
            coverage.check("converted").percentage(p -> p >= 10);
            coverage.check("rejected").percentage(p -> p >= 10);
        });
    }

    /** Bytes off the wire: whatever parses as one of the messages must convert or be rejected cleanly. */
    @Property(tries = 1500)
    void arbitraryBytesThatParseConvertOrAreRejected(@ForAll("wireBytes") byte[] bytes) {
        try {
            ProtoConverter.workload(Workload.parseFrom(bytes));
        } catch (InvalidProtocolBufferException | ConversionException expected) {
            // either is a clean outcome
        }
        try {
            ProtoConverter.service(Service.parseFrom(bytes));
        } catch (InvalidProtocolBufferException | ConversionException expected) {
            // either is a clean outcome
        }
        try {
            ProtoConverter.authorization(Authorization.parseFrom(bytes));
        } catch (InvalidProtocolBufferException | ConversionException expected) {
            // either is a clean outcome
        }
    }

    @Property(tries = 500)
    void aWellFormedWorkloadAlwaysConverts(@ForAll("wellFormedWorkloads") Workload workload) throws Exception {
        var converted = ProtoConverter.workload(workload);

        assertThat(converted.addresses()).hasSize(workload.getAddressesCount());
        for (int i = 0; i < workload.getAddressesCount(); i++) {
            assertThat(converted.addresses().get(i))
                    .isEqualTo(InetAddress.getByAddress(workload.getAddresses(i).toByteArray()));
        }
        workload.getServicesMap().forEach((key, ports) -> {
            Map<Integer, Integer> mapped = converted.services().get(key);
            ports.getPortsList().forEach(p -> assertThat(mapped).containsKey(p.getServicePort()));
        });
        assertThat(converted.speaksHbone())
                .isEqualTo(workload.getTunnelProtocol() == TunnelProtocol.HBONE || workload.getNativeTunnel());
    }

    // ----- generators ------------------------------------------------------------------------------------------------

    private static Arbitrary<String> text() {
        return Arbitraries.strings()
                .withCharRange('a', 'z')
                .withChars('/', '.', '-', ' ', '\u00e9', '\n')
                .ofMaxLength(12);
    }

    private static Arbitrary<ByteString> bytesOfLength(int length) {
        return Arbitraries.bytes().array(byte[].class).ofSize(length).map(ByteString::copyFrom);
    }

    /** Mostly valid IPv4/IPv6 lengths, sometimes anything from 0 to 20 bytes. */
    private static Arbitrary<ByteString> ipBytes() {
        return Arbitraries.frequencyOf(
                Tuple.of(4, bytesOfLength(4)),
                Tuple.of(3, bytesOfLength(16)),
                Tuple.of(
                        2, Arbitraries.integers().between(0, 20).flatMap(ProtoConverterPropertiesTest::bytesOfLength)));
    }

    /** Mostly small valid enum numbers, sometimes out of range (negative, large). */
    private static Arbitrary<Integer> enumNumber() {
        return Arbitraries.frequencyOf(
                Tuple.of(8, Arbitraries.integers().between(0, 3)),
                Tuple.of(1, Arbitraries.integers().between(-3, 70)),
                Tuple.of(1, Arbitraries.integers()));
    }

    /** A uint32 as Java sees it: mostly a port, sometimes above 65535, sometimes above 2^31 (negative int). */
    private static Arbitrary<Integer> uint32() {
        return Arbitraries.frequencyOf(
                Tuple.of(8, Arbitraries.integers().between(0, 65535)),
                Tuple.of(1, Arbitraries.integers().between(65536, 1 << 20)),
                Tuple.of(1, Arbitraries.integers()));
    }

    private static Arbitrary<NetworkAddress> networkAddress() {
        return Builders.withBuilder(NetworkAddress::newBuilder)
                .use(text())
                .withProbability(0.3)
                .inSetter(NetworkAddress.Builder::setNetwork)
                .use(ipBytes())
                .inSetter(NetworkAddress.Builder::setAddress)
                .use(Arbitraries.frequencyOf(
                        Tuple.of(3, Arbitraries.integers().between(0, 130)), Tuple.of(1, Arbitraries.integers())))
                .withProbability(0.5)
                .inSetter(NetworkAddress.Builder::setLength)
                .build(NetworkAddress.Builder::build);
    }

    private static Arbitrary<GatewayAddress> gateway() {
        Arbitrary<NamespacedHostname> hostname = Builders.withBuilder(NamespacedHostname::newBuilder)
                .use(text())
                .inSetter(NamespacedHostname.Builder::setNamespace)
                .use(text())
                .inSetter(NamespacedHostname.Builder::setHostname)
                .build(NamespacedHostname.Builder::build);
        return Builders.withBuilder(GatewayAddress::newBuilder)
                .use(hostname)
                .withProbability(0.4)
                .inSetter(GatewayAddress.Builder::setHostname)
                .use(networkAddress())
                .withProbability(0.4)
                .inSetter(GatewayAddress.Builder::setAddress)
                .use(uint32())
                .withProbability(0.7)
                .inSetter(GatewayAddress.Builder::setHboneMtlsPort)
                .build(GatewayAddress.Builder::build);
    }

    private static Arbitrary<Port> port(Arbitrary<Integer> number) {
        return Builders.withBuilder(Port::newBuilder)
                .use(number)
                .inSetter(Port.Builder::setServicePort)
                .use(number)
                .inSetter(Port.Builder::setTargetPort)
                .use(enumNumber())
                .withProbability(0.3)
                .inSetter(Port.Builder::setAppProtocolValue)
                .build(Port.Builder::build);
    }

    private static Arbitrary<Map<String, PortList>> memberships(Arbitrary<Integer> number) {
        Arbitrary<PortList> ports = port(number)
                .list()
                .ofMaxSize(3)
                .map(list -> PortList.newBuilder().addAllPorts(list).build());
        return Arbitraries.maps(text(), ports).ofMaxSize(3);
    }

    @Provide
    Arbitrary<Workload> workloads() {
        return Builders.withBuilder(Workload::newBuilder)
                .use(Arbitraries.frequencyOf(Tuple.of(9, text().filter(s -> !s.isEmpty())), Tuple.of(1, text())))
                .inSetter(Workload.Builder::setUid)
                .use(text())
                .inSetter(Workload.Builder::setName)
                .use(text())
                .inSetter(Workload.Builder::setNamespace)
                .use(ipBytes().list().ofMaxSize(3))
                .inSetter(Workload.Builder::addAllAddresses)
                .use(text())
                .withProbability(0.2)
                .inSetter(Workload.Builder::setHostname)
                .use(text())
                .withProbability(0.3)
                .inSetter(Workload.Builder::setNetwork)
                .use(enumNumber())
                .inSetter(Workload.Builder::setTunnelProtocolValue)
                .use(text())
                .inSetter(Workload.Builder::setTrustDomain)
                .use(text())
                .inSetter(Workload.Builder::setServiceAccount)
                .use(gateway())
                .withProbability(0.3)
                .inSetter(Workload.Builder::setWaypoint)
                .use(gateway())
                .withProbability(0.2)
                .inSetter(Workload.Builder::setNetworkGateway)
                .use(text())
                .inSetter(Workload.Builder::setNode)
                .use(enumNumber())
                .inSetter(Workload.Builder::setWorkloadTypeValue)
                .use(Arbitraries.of(true, false))
                .inSetter(Workload.Builder::setNativeTunnel)
                .use(Builders.withBuilder(ApplicationTunnel::newBuilder)
                        .use(enumNumber())
                        .inSetter(ApplicationTunnel.Builder::setProtocolValue)
                        .use(uint32())
                        .inSetter(ApplicationTunnel.Builder::setPort)
                        .build(ApplicationTunnel.Builder::build))
                .withProbability(0.3)
                .inSetter(Workload.Builder::setApplicationTunnel)
                .use(memberships(uint32()))
                .inSetter(Workload.Builder::putAllServices)
                .use(text().list().ofMaxSize(2))
                .inSetter(Workload.Builder::addAllAuthorizationPolicies)
                .use(enumNumber())
                .inSetter(Workload.Builder::setStatusValue)
                .use(text())
                .withProbability(0.3)
                .inSetter(Workload.Builder::setClusterId)
                .use(Arbitraries.just(
                        Locality.newBuilder().setRegion("r").setZone("z").build()))
                .withProbability(0.2)
                .inSetter(Workload.Builder::setLocality)
                .use(enumNumber())
                .inSetter(Workload.Builder::setNetworkModeValue)
                .use(Arbitraries.integers()
                        .map(v -> UInt32Value.newBuilder().setValue(v).build()))
                .withProbability(0.4)
                .inSetter(Workload.Builder::setCapacity)
                .build(Workload.Builder::build);
    }

    @Provide
    Arbitrary<Workload> wellFormedWorkloads() {
        Arbitrary<ByteString> ip = Arbitraries.oneOf(bytesOfLength(4), bytesOfLength(16));
        return Builders.withBuilder(Workload::newBuilder)
                .use(text().filter(s -> !s.isEmpty()))
                .inSetter(Workload.Builder::setUid)
                .use(text())
                .inSetter(Workload.Builder::setNamespace)
                .use(ip.list().ofMaxSize(3))
                .inSetter(Workload.Builder::addAllAddresses)
                .use(Arbitraries.of(TunnelProtocol.NONE, TunnelProtocol.HBONE))
                .inSetter(Workload.Builder::setTunnelProtocol)
                .use(Arbitraries.of(true, false))
                .inSetter(Workload.Builder::setNativeTunnel)
                .use(Arbitraries.integers().between(0, 3))
                .inSetter(Workload.Builder::setWorkloadTypeValue)
                .use(memberships(Arbitraries.integers().between(0, 65535)))
                .inSetter(Workload.Builder::putAllServices)
                .use(Arbitraries.integers()
                        .map(v -> UInt32Value.newBuilder().setValue(v).build()))
                .withProbability(0.5)
                .inSetter(Workload.Builder::setCapacity)
                .build(Workload.Builder::build);
    }

    @Provide
    Arbitrary<Service> services() {
        Arbitrary<WeightedWaypoint> weighted = Builders.withBuilder(WeightedWaypoint::newBuilder)
                .use(gateway())
                .withProbability(0.9)
                .inSetter(WeightedWaypoint.Builder::setDestination)
                .use(Arbitraries.integers())
                .inSetter(WeightedWaypoint.Builder::setWeight)
                .build(WeightedWaypoint.Builder::build);
        Arbitrary<LoadBalancing> loadBalancing = Builders.withBuilder(LoadBalancing::newBuilder)
                .use(enumNumber().list().ofMaxSize(3))
                .inSetter(LoadBalancing.Builder::addAllRoutingPreferenceValue)
                .use(enumNumber())
                .inSetter(LoadBalancing.Builder::setModeValue)
                .use(enumNumber())
                .inSetter(LoadBalancing.Builder::setHealthPolicyValue)
                .build(LoadBalancing.Builder::build);
        return Builders.withBuilder(Service::newBuilder)
                .use(text())
                .inSetter(Service.Builder::setName)
                .use(text())
                .inSetter(Service.Builder::setNamespace)
                .use(Arbitraries.frequencyOf(Tuple.of(9, text().filter(s -> !s.isEmpty())), Tuple.of(1, text())))
                .inSetter(Service.Builder::setHostname)
                .use(networkAddress().list().ofMaxSize(3))
                .inSetter(Service.Builder::addAllAddresses)
                .use(port(uint32()).list().ofMaxSize(3))
                .inSetter(Service.Builder::addAllPorts)
                .use(text().list().ofMaxSize(2))
                .inSetter(Service.Builder::addAllSubjectAltNames)
                .use(gateway())
                .withProbability(0.3)
                .inSetter(Service.Builder::setWaypoint)
                .use(loadBalancing)
                .withProbability(0.4)
                .inSetter(Service.Builder::setLoadBalancing)
                .use(enumNumber())
                .inSetter(Service.Builder::setIpFamiliesValue)
                .use(Arbitraries.of(true, false))
                .inSetter(Service.Builder::setCanonical)
                .use(weighted.list().ofMaxSize(2))
                .inSetter(Service.Builder::addAllWeightedWaypoints)
                .use(enumNumber())
                .inSetter(Service.Builder::setVisibilityValue)
                .build(Service.Builder::build);
    }

    @Provide
    Arbitrary<Authorization> policies() {
        Arbitrary<StringMatch> stringMatch = Arbitraries.oneOf(
                text().map(s -> StringMatch.newBuilder().setExact(s).build()),
                text().map(s -> StringMatch.newBuilder().setPrefix(s).build()),
                text().map(s -> StringMatch.newBuilder().setSuffix(s).build()),
                Arbitraries.just(StringMatch.newBuilder()
                        .setPresence(Empty.getDefaultInstance())
                        .build()),
                Arbitraries.just(StringMatch.getDefaultInstance()));
        Arbitrary<Address> cidr = Builders.withBuilder(Address::newBuilder)
                .use(ipBytes())
                .inSetter(Address.Builder::setAddress)
                .use(Arbitraries.frequencyOf(
                        Tuple.of(3, Arbitraries.integers().between(0, 130)), Tuple.of(1, Arbitraries.integers())))
                .inSetter(Address.Builder::setLength)
                .build(Address.Builder::build);
        Arbitrary<ServiceAccountMatch> serviceAccount = Builders.withBuilder(ServiceAccountMatch::newBuilder)
                .use(text())
                .inSetter(ServiceAccountMatch.Builder::setNamespace)
                .use(text())
                .inSetter(ServiceAccountMatch.Builder::setServiceAccount)
                .build(ServiceAccountMatch.Builder::build);
        Arbitrary<List<StringMatch>> strings = stringMatch.list().ofMaxSize(2);
        Arbitrary<List<Address>> cidrs = cidr.list().ofMaxSize(2);
        Arbitrary<List<Integer>> ports = uint32().list().ofMaxSize(2);
        Arbitrary<Match> match = Builders.withBuilder(Match::newBuilder)
                .use(strings)
                .withProbability(0.3)
                .inSetter(Match.Builder::addAllNamespaces)
                .use(strings)
                .withProbability(0.2)
                .inSetter(Match.Builder::addAllNotNamespaces)
                .use(strings)
                .withProbability(0.3)
                .inSetter(Match.Builder::addAllPrincipals)
                .use(strings)
                .withProbability(0.2)
                .inSetter(Match.Builder::addAllNotPrincipals)
                .use(cidrs)
                .withProbability(0.3)
                .inSetter(Match.Builder::addAllSourceIps)
                .use(cidrs)
                .withProbability(0.2)
                .inSetter(Match.Builder::addAllNotSourceIps)
                .use(cidrs)
                .withProbability(0.2)
                .inSetter(Match.Builder::addAllDestinationIps)
                .use(cidrs)
                .withProbability(0.2)
                .inSetter(Match.Builder::addAllNotDestinationIps)
                .use(ports)
                .withProbability(0.3)
                .inSetter(Match.Builder::addAllDestinationPorts)
                .use(ports)
                .withProbability(0.2)
                .inSetter(Match.Builder::addAllNotDestinationPorts)
                .use(serviceAccount.list().ofMaxSize(2))
                .withProbability(0.2)
                .inSetter(Match.Builder::addAllServiceAccounts)
                .use(serviceAccount.list().ofMaxSize(2))
                .withProbability(0.2)
                .inSetter(Match.Builder::addAllNotServiceAccounts)
                .build(Match.Builder::build);
        Arbitrary<Rule> rule = match.list()
                .ofMaxSize(2)
                .map(matches -> Clause.newBuilder().addAllMatches(matches).build())
                .list()
                .ofMaxSize(2)
                .map(clauses -> Rule.newBuilder().addAllClauses(clauses).build());
        return Builders.withBuilder(Authorization::newBuilder)
                .use(Arbitraries.frequencyOf(Tuple.of(9, text().filter(s -> !s.isEmpty())), Tuple.of(1, text())))
                .inSetter(Authorization.Builder::setName)
                .use(text())
                .inSetter(Authorization.Builder::setNamespace)
                .use(enumNumber())
                .inSetter(Authorization.Builder::setScopeValue)
                .use(enumNumber())
                .inSetter(Authorization.Builder::setActionValue)
                .use(rule.list().ofMaxSize(3))
                .inSetter(Authorization.Builder::addAllRules)
                .use(Arbitraries.of(true, false))
                .inSetter(Authorization.Builder::setDryRun)
                .build(Authorization.Builder::build);
    }

    /** Random bytes, plus serialized random messages with a few bytes flipped (to get past the parser more often). */
    @Provide
    Arbitrary<byte[]> wireBytes() {
        Arbitrary<byte[]> mutated = Arbitraries.oneOf(
                        workloads().map(Workload::toByteArray),
                        services().map(Service::toByteArray),
                        policies().map(Authorization::toByteArray))
                .flatMap(bytes -> Arbitraries.integers()
                        .between(0, Math.max(0, bytes.length - 1))
                        .list()
                        .ofMaxSize(3)
                        .flatMap(positions -> Arbitraries.bytes()
                                .list()
                                .ofSize(positions.size())
                                .map(values -> {
                                    byte[] copy = bytes.clone();
                                    for (int i = 0; i < positions.size() && copy.length > 0; i++) {
                                        copy[positions.get(i)] = values.get(i);
                                    }
                                    return copy;
                                })));
        return Arbitraries.oneOf(Arbitraries.bytes().array(byte[].class).ofMaxSize(64), mutated);
    }
}
