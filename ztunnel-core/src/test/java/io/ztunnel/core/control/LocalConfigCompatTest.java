package io.ztunnel.core.control;

import static io.ztunnel.core.state.Fixtures.ip;
import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.core.admin.ConfigDump;
import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.state.Authorization;
import io.ztunnel.core.state.GatewayAddress;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Service;
import io.ztunnel.core.state.Workload;
import io.ztunnel.xds.local.LocalConfig;
import io.ztunnel.xds.local.LocalConfigParser;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.Test;

/**
 * Files written for Istio's ztunnel load here unchanged, and {@code /config_dump}'s {@code staticConfig} writes the same
 * schema back.
 */
class LocalConfigCompatTest {

    /** The example of section 9.2 of the reference, as ztunnel documents it. */
    static final String TINY = """
            workloads:
            - uid: c1//v1/Pod/default/app
              name: app
              namespace: default
              serviceAccount: default
              trustDomain: cluster.local
              workloadIps: ["127.0.0.1"]
              protocol: HBONE
              node: local
              services:
                "default/app.default.svc.cluster.local": {80: 8080}
            services:
            - name: app
              namespace: default
              hostname: app.default.svc.cluster.local
              vips: ["/127.10.0.1"]
              ports: {80: 8080}
            policies:
            - name: no-9999
              namespace: default
              scope: Namespace
              action: Allow
              dryRun: false
              rules: [[[{notDestinationPorts: [9999]}]]]
            """;

    /** Every field of the schema. */
    static final String EVERYTHING = """
            workloads:
            - uid: cluster1//v1/Pod/shop/cart-7d9
              name: cart-7d9
              namespace: shop
              serviceAccount: cart
              trustDomain: example.org
              workloadIps: ["10.1.0.7", "fd00::1:7"]
              hostname: cart.internal
              network: net1
              protocol: HBONE
              networkMode: Standard
              node: node-1
              workloadName: cart
              workloadType: deployment
              canonicalName: cart
              canonicalRevision: v2
              clusterId: cluster1
              waypoint: {destination: "shop/waypoint.shop.svc.cluster.local", hboneMtlsPort: 15008}
              networkGateway: {destination: "net1/10.9.9.9", hboneMtlsPort: 15009}
              nativeTunnel: false
              applicationTunnel: {protocol: PROXY, port: 15088}
              authorizationPolicies: ["shop/cart-only"]
              status: Unhealthy
              locality: {region: eu, zone: eu-1a, subzone: rack3}
              capacity: 5
              services:
                "shop/cart.shop.svc.cluster.local": {80: 8080, 81: 0}
            - uid: cluster1//v1/Pod/shop/db-0
              name: db-0
              namespace: shop
              serviceAccount: db
              trustDomain: example.org
              workloadIps: ["10.1.0.9"]
              protocol: TCP
              networkMode: HostNetwork
              workloadType: pod
              status: Healthy
              services: {}
            services:
            - name: cart
              namespace: shop
              hostname: cart.shop.svc.cluster.local
              vips: ["net1/10.96.0.7", "net1/fd00::96:7"]
              cidrVips: ["net1/10.200.0.0/16"]
              ports: {80: 8080, 81: 0}
              subjectAltNames: ["spiffe://example.org/ns/shop/sa/cart"]
              waypoint: {destination: "net1/10.96.9.9", hboneMtlsPort: 15008}
              weightedWaypoints:
              - {destination: {destination: "shop/wp-a.shop.svc.cluster.local", hboneMtlsPort: 15008}, weight: 3}
              - {destination: {destination: "net1/10.96.9.10", hboneMtlsPort: 15008}, weight: 1}
              loadBalancer: {routingPreferences: [Region, Zone, Subzone, Node, Cluster, Network], mode: Failover, healthPolicy: AllowAll}
              ipFamilies: Dual
              canonical: true
              visibility: Namespace
            policies:
            - name: cart-only
              namespace: shop
              scope: WorkloadSelector
              action: Deny
              dryRun: true
              rules:
              - - - namespaces: [{Exact: shop}]
                    notNamespaces: [{Prefix: kube-}]
                    serviceAccounts: [{namespace: shop, serviceAccount: web}]
                    notServiceAccounts: [{namespace: shop, serviceAccount: admin}]
                    principals: [{Suffix: /sa/web}]
                    notPrincipals: [{Presence: []}]
                    sourceIps: ["10.0.0.0/8", "fd00::/8"]
                    notSourceIps: ["10.66.0.0/16"]
                    destinationIps: ["10.1.0.7/32"]
                    notDestinationIps: ["10.1.0.8/32"]
                    destinationPorts: [8080]
                    notDestinationPorts: [9999]
                - []
              - []
            - name: global
              namespace: istio-system
              scope: Global
              action: Allow
              dryRun: false
              rules: [[[{destinationPorts: [80]}]]]
            """;

    @Test
    void theReferenceExampleLoadsWithItsMeaning() throws Exception {
        ProxyState state = LocalConfigSource.toState(LocalConfigParser.parseInline(TINY));
        Workload app = Objects.requireNonNull(state.workload("c1//v1/Pod/default/app"));
        assertThat(app.identity()).isEqualTo(SpiffeId.parse("spiffe://cluster.local/ns/default/sa/default"));
        assertThat(app.addresses()).containsExactly(ip("127.0.0.1"));
        assertThat(app.tunnelProtocol()).isEqualTo(Workload.TunnelProtocol.HBONE);
        assertThat(app.services()).containsEntry("default/app.default.svc.cluster.local", Map.of(80, 8080));
        Service svc = Objects.requireNonNull(state.service("default/app.default.svc.cluster.local"));
        assertThat(svc.vips()).extracting(v -> v.address()).containsExactly(ip("127.10.0.1"));
        assertThat(state.endpoints(svc)).extracting(e -> e.workload().uid()).containsExactly(app.uid());
        Authorization policy = Objects.requireNonNull(state.policy("default/no-9999"));
        assertThat(policy.action()).isEqualTo(Authorization.Action.ALLOW);
        assertThat(policy.rules()
                        .getFirst()
                        .clauses()
                        .getFirst()
                        .matches()
                        .getFirst()
                        .notDestinationPorts())
                .containsExactly(9999);
    }

    @Test
    void everyFieldIsUnderstood() throws Exception {
        ProxyState state = LocalConfigSource.toState(LocalConfigParser.parseInline(EVERYTHING));
        Workload cart = Objects.requireNonNull(state.workload("cluster1//v1/Pod/shop/cart-7d9"));
        assertThat(cart.identity()).isEqualTo(SpiffeId.parse("spiffe://example.org/ns/shop/sa/cart"));
        assertThat(cart.addresses()).containsExactly(ip("10.1.0.7"), ip("fd00::1:7"));
        assertThat(cart.network()).isEqualTo("net1");
        assertThat(Objects.requireNonNull(cart.waypoint()).destination()).isInstanceOf(GatewayAddress.Hostname.class);
        assertThat(Objects.requireNonNull(cart.networkGateway()).hboneMtlsPort())
                .isEqualTo(15009);
        assertThat(cart.applicationTunnel())
                .isEqualTo(new Workload.ApplicationTunnel(Workload.ApplicationTunnel.Protocol.PROXY, 15088));
        assertThat(cart.status()).isEqualTo(Workload.HealthStatus.UNHEALTHY);
        assertThat(cart.locality().subzone()).isEqualTo("rack3");
        assertThat(cart.capacity()).isEqualTo(5);
        assertThat(cart.clusterId()).isEqualTo("cluster1");
        assertThat(Objects.requireNonNull(state.workload("cluster1//v1/Pod/shop/db-0"))
                        .networkMode())
                .isEqualTo(Workload.NetworkMode.HOST_NETWORK);
        Service svc = Objects.requireNonNull(state.service("shop/cart.shop.svc.cluster.local"));
        assertThat(svc.cidrVips()).hasSize(1);
        assertThat(svc.weightedWaypoints())
                .extracting(Service.WeightedWaypoint::weight)
                .containsExactly(3, 1);
        Service.LoadBalancing loadBalancing = Objects.requireNonNull(svc.loadBalancing());
        assertThat(loadBalancing.mode()).isEqualTo(Service.LoadBalancing.Mode.FAILOVER);
        assertThat(loadBalancing.routingPreference()).hasSize(6);
        assertThat(svc.ipFamilies()).isEqualTo(Service.IpFamilies.DUAL);
        assertThat(svc.visibility()).isEqualTo(Service.Visibility.NAMESPACE);
        Authorization.Match m = Objects.requireNonNull(state.policy("shop/cart-only"))
                .rules()
                .getFirst()
                .clauses()
                .getFirst()
                .matches()
                .getFirst();
        assertThat(m.notPrincipals()).containsExactly(new Authorization.StringMatch.Presence());
        assertThat(m.sourceIps()).hasSize(2);
        assertThat(state.policy("shop/cart-only").rules()).hasSize(2);
        assertThat(state.globalPolicies()).extracting(Authorization::key).containsExactly("istio-system/global");
    }

    @Test
    void configDumpRoundTripsThroughTheLocalConfigSchema() throws Exception {
        for (String yaml : List.of(TINY, EVERYTHING)) {
            ProxyState original = LocalConfigSource.toState(LocalConfigParser.parseInline(yaml));
            // What /config_dump shows under staticConfig loads back as a local config file.
            String json = ConfigDump.toJson(ConfigDump.staticConfig(original));

            ProxyState reloaded = LocalConfigSource.toState(LocalConfigParser.parseInline(json));
            assertThat(reloaded.workloads()).isEqualTo(original.workloads());
            assertThat(reloaded.services()).isEqualTo(original.services());
            assertThat(reloaded.policies()).isEqualTo(original.policies());
        }
    }

    @Test
    void aResourceTheModelRejectsIsNamedInTheError() throws Exception {
        String bad = TINY.replace("workloadIps: [\"127.0.0.1\"]", "workloadIps: [\"127.0.0.1\"]\n  hostname: x")
                .replace("protocol: HBONE", "protocol: HBONE");
        ProxyState ok = LocalConfigSource.toState(LocalConfigParser.parseInline(bad));
        assertThat(ok.workloadCount()).isEqualTo(1);
        var proto = LocalConfigParser.parseInline(TINY);
        var broken = new LocalConfig(
                List.of(proto.workloads().getFirst().toBuilder()
                        .setWorkload(proto.workloads().getFirst().getWorkload().toBuilder()
                                .setTunnelProtocolValue(2))
                        .build()),
                proto.services(),
                proto.policies());
        Assertions.assertThatThrownBy(() -> LocalConfigSource.toState(broken))
                .isInstanceOf(ConversionException.class)
                .hasMessage("workload c1//v1/Pod/default/app: tunnel_protocol LEGACY_ISTIO_MTLS is not supported");
    }
}
