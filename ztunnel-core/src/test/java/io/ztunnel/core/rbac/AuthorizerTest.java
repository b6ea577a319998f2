package io.ztunnel.core.rbac;

import static io.ztunnel.core.state.Fixtures.ip;
import static io.ztunnel.core.state.Fixtures.pod;
import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.rbac.Authorizer.Connection;
import io.ztunnel.core.rbac.Authorizer.Decision;
import io.ztunnel.core.state.Authorization;
import io.ztunnel.core.state.Authorization.Action;
import io.ztunnel.core.state.Authorization.Clause;
import io.ztunnel.core.state.Authorization.Match;
import io.ztunnel.core.state.Authorization.Rule;
import io.ztunnel.core.state.Authorization.Scope;
import io.ztunnel.core.state.Authorization.ServiceAccountMatch;
import io.ztunnel.core.state.Authorization.StringMatch;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Workload;
import java.util.List;
import org.assertj.core.groups.Tuple;
import org.junit.jupiter.api.Test;

/** One test per authorization rule of section 6. */
class AuthorizerTest {
    private static final SpiffeId CLIENT = SpiffeId.parse("spiffe://cluster.local/ns/frontend/sa/web");
    private final Workload server = pod("backend", "api", "10.0.2.1").build();
    private final Connection mtls = new Connection(ip("10.0.1.1"), CLIENT, ip("10.0.2.1"), 8080);
    private final Connection plaintext = new Connection(ip("10.0.1.1"), null, ip("10.0.2.1"), 8080);

    private static Match.Builder match() {
        return new Match.Builder();
    }

    private static Authorization policy(String name, Action action, Match... matches) {
        return new Authorization(
                name,
                "backend",
                Scope.NAMESPACE,
                action,
                List.of(new Rule(List.of(new Clause(List.of(matches))))),
                false);
    }

    private Decision decide(Connection c, Authorization... policies) {
        return Authorizer.evaluate(ProxyState.of(List.of(server), List.of(), List.of(policies)), server, c);
    }

    @Test
    void noPoliciesAllows() {
        assertThat(decide(mtls).allowed()).isTrue();
    }

    @Test
    void matchingDenyDeniesNamingThePolicy() {
        Decision d = decide(
                mtls,
                policy(
                        "no-frontend",
                        Action.DENY,
                        match().namespaces("frontend").build()));
        assertThat(d.allowed()).isFalse();
        assertThat(d.reason()).isEqualTo("explicitly denied by: backend/no-frontend");
        assertThat(d.policy()).isEqualTo("backend/no-frontend");
    }

    @Test
    void denyWinsOverAllow() {
        Decision d = decide(
                mtls,
                policy("allow-all", Action.ALLOW, match().namespaces("frontend").build()),
                policy("deny", Action.DENY, match().ports(8080).build()));
        assertThat(d.reason()).isEqualTo("explicitly denied by: backend/deny");
    }

    @Test
    void whenAllowPoliciesExistOneMustMatch() {
        Decision d = decide(
                mtls,
                policy("only-admin", Action.ALLOW, match().namespaces("admin").build()));
        assertThat(d.allowed()).isFalse();
        assertThat(d.reason()).isEqualTo("allow policies exist, but none allowed");
        assertThat(decide(
                                mtls,
                                policy(
                                        "frontend",
                                        Action.ALLOW,
                                        match().namespaces("frontend").build()))
                        .allowed())
                .isTrue();
    }

    @Test
    void allowPolicyWithoutRulesDeniesEverything() {
        Authorization empty = new Authorization("deny-all", "backend", Scope.NAMESPACE, Action.ALLOW, List.of(), false);
        assertThat(decide(mtls, empty).allowed()).isFalse();
    }

    @Test
    void denyPolicyWithoutRulesNeverMatches() {
        Authorization empty = new Authorization("nothing", "backend", Scope.NAMESPACE, Action.DENY, List.of(), false);
        assertThat(decide(mtls, empty).allowed()).isTrue();
    }

    @Test
    void matchWithEveryFieldEmptyIsSkipped() {
        assertThat(decide(mtls, policy("empty-match", Action.DENY, Match.empty()))
                        .allowed())
                .isTrue();
        assertThat(decide(mtls, policy("empty-allow", Action.ALLOW, Match.empty()))
                        .allowed())
                .isFalse();
    }

    @Test
    void clauseWithNoMatchesMatches() {
        Authorization p = new Authorization(
                "any",
                "backend",
                Scope.NAMESPACE,
                Action.DENY,
                List.of(new Rule(List.of(new Clause(List.of())))),
                false);
        assertThat(decide(mtls, p).allowed()).isFalse();
    }

    @Test
    void rulesAreOredClausesAndedMatchesOred() {
        Match wrongNs = match().namespaces("nope").build();
        Match rightPort = match().ports(8080).build();
        Match wrongPort = match().ports(9090).build();
        Authorization anded = new Authorization(
                "and",
                "backend",
                Scope.NAMESPACE,
                Action.DENY,
                List.of(new Rule(List.of(new Clause(List.of(rightPort)), new Clause(List.of(wrongNs))))),
                false);
        assertThat(decide(mtls, anded).allowed()).as("second clause fails").isTrue();
        Authorization ored = new Authorization(
                "or",
                "backend",
                Scope.NAMESPACE,
                Action.DENY,
                List.of(new Rule(List.of(new Clause(List.of(wrongNs, rightPort))))),
                false);
        assertThat(decide(mtls, ored).allowed()).isFalse();
        Authorization rules = new Authorization(
                "rules",
                "backend",
                Scope.NAMESPACE,
                Action.DENY,
                List.of(
                        new Rule(List.of(new Clause(List.of(wrongPort)))),
                        new Rule(List.of(new Clause(List.of(rightPort))))),
                false);
        assertThat(decide(mtls, rules).allowed()).isFalse();
    }

    @Test
    void everyPopulatedFieldOfAMatchMustHold() {
        Match both = match().namespaces("frontend").ports(9090).build();
        assertThat(decide(mtls, policy("both", Action.DENY, both)).allowed()).isTrue();
    }

    @Test
    void principalsAreComparedWithoutTheSpiffePrefix() {
        assertThat(decide(
                                mtls,
                                policy(
                                        "p",
                                        Action.DENY,
                                        match().principals(new StringMatch.Exact("cluster.local/ns/frontend/sa/web"))
                                                .build()))
                        .allowed())
                .isFalse();
        assertThat(decide(
                                mtls,
                                policy(
                                        "p",
                                        Action.DENY,
                                        match().principals(new StringMatch.Exact(
                                                        "spiffe://cluster.local/ns/frontend/sa/web"))
                                                .build()))
                        .allowed())
                .isTrue();
        assertThat(decide(
                                mtls,
                                policy(
                                        "p",
                                        Action.DENY,
                                        match().principals(new StringMatch.Prefix("cluster.local/ns/front"))
                                                .build()))
                        .allowed())
                .isFalse();
        assertThat(decide(
                                mtls,
                                policy(
                                        "p",
                                        Action.DENY,
                                        match().principals(new StringMatch.Suffix("/sa/web"))
                                                .build()))
                        .allowed())
                .isFalse();
        assertThat(decide(
                                mtls,
                                policy(
                                        "p",
                                        Action.DENY,
                                        match().principals(new StringMatch.Presence())
                                                .build()))
                        .allowed())
                .isFalse();
    }

    @Test
    void plaintextMatchesNoPrincipalSoNotPrincipalsHold() {
        assertThat(decide(
                                plaintext,
                                policy(
                                        "p",
                                        Action.DENY,
                                        match().principals(new StringMatch.Presence())
                                                .build()))
                        .allowed())
                .isTrue();
        assertThat(decide(
                                plaintext,
                                policy(
                                        "np",
                                        Action.DENY,
                                        match().notPrincipals(new StringMatch.Prefix("cluster.local"))
                                                .build()))
                        .allowed())
                .isFalse();
        assertThat(decide(
                                mtls,
                                policy(
                                        "np",
                                        Action.DENY,
                                        match().notPrincipals(new StringMatch.Prefix("cluster.local"))
                                                .build()))
                        .allowed())
                .isTrue();
    }

    @Test
    void namespacesComeFromThePeerIdentity() {
        assertThat(decide(
                                mtls,
                                policy(
                                        "n",
                                        Action.DENY,
                                        match().namespaces("frontend").build()))
                        .allowed())
                .isFalse();
        assertThat(decide(
                                plaintext,
                                policy(
                                        "n",
                                        Action.DENY,
                                        match().namespaces(new StringMatch.Presence())
                                                .build()))
                        .allowed())
                .as("plaintext has no namespace")
                .isTrue();
        assertThat(decide(
                                mtls,
                                policy(
                                        "nn",
                                        Action.DENY,
                                        match().notNamespaces("frontend").build()))
                        .allowed())
                .isTrue();
        assertThat(decide(
                                mtls,
                                policy(
                                        "nn",
                                        Action.DENY,
                                        match().notNamespaces("other").build()))
                        .allowed())
                .isFalse();
    }

    @Test
    void serviceAccountsNeedNamespaceAndNameButIgnoreTheTrustDomain() {
        Connection otherTd = new Connection(
                ip("10.0.1.1"), SpiffeId.parse("spiffe://other.td/ns/frontend/sa/web"), ip("10.0.2.1"), 8080);
        Match sa = match().serviceAccounts(new ServiceAccountMatch("frontend", "web"))
                .build();
        assertThat(decide(otherTd, policy("sa", Action.DENY, sa)).allowed()).isFalse();
        assertThat(decide(
                                mtls,
                                policy(
                                        "sa",
                                        Action.DENY,
                                        match().serviceAccounts(new ServiceAccountMatch("other", "web"))
                                                .build()))
                        .allowed())
                .isTrue();
        assertThat(decide(plaintext, policy("sa", Action.DENY, sa)).allowed()).isTrue();
        assertThat(decide(
                                mtls,
                                policy(
                                        "nsa",
                                        Action.DENY,
                                        match().notServiceAccounts(new ServiceAccountMatch("frontend", "web"))
                                                .build()))
                        .allowed())
                .isTrue();
    }

    @Test
    void sourceAndDestinationIpsMatchCidrsInBothFamilies() {
        assertThat(decide(
                                mtls,
                                policy(
                                        "s",
                                        Action.DENY,
                                        match().sourceIps("10.0.0.0/16").build()))
                        .allowed())
                .isFalse();
        assertThat(decide(
                                mtls,
                                policy(
                                        "s",
                                        Action.DENY,
                                        match().sourceIps("10.0.2.0/24").build()))
                        .allowed())
                .isTrue();
        assertThat(decide(
                                mtls,
                                policy(
                                        "ns",
                                        Action.DENY,
                                        match().notSourceIps("10.0.1.1").build()))
                        .allowed())
                .isTrue();
        assertThat(decide(
                                mtls,
                                policy(
                                        "d",
                                        Action.DENY,
                                        match().destinationIps("10.0.2.1/32").build()))
                        .allowed())
                .isFalse();
        assertThat(decide(
                                mtls,
                                policy(
                                        "nd",
                                        Action.DENY,
                                        match().notDestinationIps("10.0.0.0/8").build()))
                        .allowed())
                .isTrue();
        Connection v6 = new Connection(ip("fd00::1:1"), CLIENT, ip("fd00::2:1"), 8080);
        assertThat(decide(
                                v6,
                                policy(
                                        "v6",
                                        Action.DENY,
                                        match().sourceIps("fd00::1:0/112").build()))
                        .allowed())
                .isFalse();
        assertThat(decide(
                                v6,
                                policy(
                                        "v4",
                                        Action.DENY,
                                        match().sourceIps("0.0.0.0/0").build()))
                        .allowed())
                .as("an IPv4 prefix never matches an IPv6 address")
                .isTrue();
    }

    @Test
    void destinationPortIsTheApplicationPort() {
        assertThat(decide(mtls, policy("p", Action.DENY, match().ports(8080).build()))
                        .allowed())
                .isFalse();
        assertThat(decide(mtls, policy("p", Action.DENY, match().ports(15008).build()))
                        .allowed())
                .isTrue();
        assertThat(decide(mtls, policy("np", Action.DENY, match().notPorts(8080).build()))
                        .allowed())
                .isTrue();
        assertThat(decide(mtls, policy("np", Action.DENY, match().notPorts(9999).build()))
                        .allowed())
                .isFalse();
    }

    @Test
    void dryRunPoliciesAreReportedButNotEnforced() {
        Authorization dryDeny = new Authorization(
                "dry",
                "backend",
                Scope.NAMESPACE,
                Action.DENY,
                List.of(new Rule(List.of(new Clause(List.of(match().ports(8080).build()))))),
                true);
        Authorization dryAllow = new Authorization(
                "dry-allow",
                "backend",
                Scope.NAMESPACE,
                Action.ALLOW,
                List.of(new Rule(List.of(new Clause(List.of(match().ports(1).build()))))),
                true);
        Decision d = Authorizer.evaluate(
                ProxyState.of(List.of(server), List.of(), List.of(dryDeny, dryAllow)), server, mtls, true);
        assertThat(d.allowed()).isTrue();
        assertThat(d.trace())
                .extracting(Authorizer.PolicyResult::policy, Authorizer.PolicyResult::matched)
                .containsExactly(Tuple.tuple("backend/dry", true), Tuple.tuple("backend/dry-allow", false));
    }

    @Test
    void scopesPickWhichPoliciesApply() {
        Match deny = match().ports(8080).build();
        Authorization otherNs = new Authorization(
                "x",
                "other",
                Scope.NAMESPACE,
                Action.DENY,
                List.of(new Rule(List.of(new Clause(List.of(deny))))),
                false);
        Authorization global = new Authorization(
                "g",
                "istio-system",
                Scope.GLOBAL,
                Action.DENY,
                List.of(new Rule(List.of(new Clause(List.of(deny))))),
                false);
        Authorization selected = new Authorization(
                "sel",
                "backend",
                Scope.WORKLOAD_SELECTOR,
                Action.DENY,
                List.of(new Rule(List.of(new Clause(List.of(deny))))),
                false);
        assertThat(decide(mtls, otherNs).allowed())
                .as("another namespace's policy")
                .isTrue();
        assertThat(decide(mtls, global).allowed()).as("a global policy").isFalse();
        assertThat(decide(mtls, selected).allowed()).as("not selected").isTrue();
        Workload selectedServer = server.toBuilder()
                .authorizationPolicies(List.of("backend/sel", "backend/gone"))
                .build();
        assertThat(Authorizer.evaluate(
                                ProxyState.of(List.of(selectedServer), List.of(), List.of(selected)),
                                selectedServer,
                                mtls)
                        .allowed())
                .as("selected; unknown keys skipped")
                .isFalse();
    }
}
