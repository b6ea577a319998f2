package io.ztunnel.core.rbac;

import io.ztunnel.core.identity.SpiffeId;
import io.ztunnel.core.state.Authorization;
import io.ztunnel.core.state.Authorization.Action;
import io.ztunnel.core.state.Authorization.Match;
import io.ztunnel.core.state.Authorization.StringMatch;
import io.ztunnel.core.state.Cidr;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.Workload;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * L4 authorization exactly as Istio's ztunnel evaluates it, a pure function of (snapshot, destination, connection):
 *
 * <ol>
 *   <li>The policies that apply: NAMESPACE policies of the destination's namespace, GLOBAL policies, and the
 *       destination's WORKLOAD_SELECTOR policies (unknown keys are skipped).
 *   <li>A matching non-dry-run DENY denies ({@code explicitly denied by: ns/name}).
 *   <li>With no non-dry-run ALLOW policy, the connection is allowed; otherwise one must match
 *       ({@code allow policies exist, but none allowed}). Dry-run policies are evaluated and reported, never enforced.
 * </ol>
 *
 * <p>Match semantics: a policy without rules never matches; rules are ORed, clauses ANDed, matches ORed; a clause with
 * no matches matches; a match with every field empty is skipped; within a match every populated field must hold.
 * Principals are compared without {@code spiffe://}; namespaces and service accounts come from the peer identity;
 * a connection without identity (plaintext) matches no principal, namespace or service account. The destination port
 * is the application's port.
 *
 * <p>Stateless and thread-safe.
 */
public final class Authorizer {
    private Authorizer() {}

    /** What is known about a connection at the destination. {@code sourceIdentity} is null for plaintext. */
    public record Connection(
            InetAddress sourceIp, @Nullable SpiffeId sourceIdentity, InetAddress destinationIp, int destinationPort) {}

    /** How one policy fared, for logs and {@code /debug/authorize}. */
    public record PolicyResult(String policy, Action action, boolean dryRun, boolean matched, String detail) {}

    /**
     * The outcome.
     *
     * @param policy the deciding policy ({@code ns/name}), or null when no single policy decided
     * @param trace per-policy results when explained, else empty
     */
    public record Decision(
            boolean allowed, String reason, @Nullable String policy, List<PolicyResult> trace) {}

    public static final String NONE_ALLOWED = "allow policies exist, but none allowed";

    /** Evaluates without collecting a per-policy trace (the data-plane path). */
    public static Decision evaluate(ProxyState state, Workload destination, Connection connection) {
        return evaluate(state, destination, connection, false);
    }

    public static Decision evaluate(ProxyState state, Workload destination, Connection connection, boolean explain) {
        List<Authorization> policies = applicable(state, destination);
        // Built once per evaluation, not once per match: with thousands of policies the concatenation dominated.
        String principal = connection.sourceIdentity() == null
                ? null
                : connection.sourceIdentity().principal();
        List<PolicyResult> trace = explain ? new ArrayList<>() : List.of();
        String denier = null;
        boolean anyAllow = false;
        String allower = null;
        for (Authorization p : policies) {
            if (p.action() != Action.DENY) {
                continue;
            }
            String matched = matchingRule(p, connection, principal);
            if (explain) {
                trace.add(new PolicyResult(
                        p.key(), p.action(), p.dryRun(), matched != null, matched != null ? matched : why(p)));
            }
            if (matched != null && !p.dryRun() && denier == null) {
                denier = p.key();
            }
        }
        for (Authorization p : policies) {
            if (p.action() != Action.ALLOW) {
                continue;
            }
            String matched = matchingRule(p, connection, principal);
            if (explain) {
                trace.add(new PolicyResult(
                        p.key(), p.action(), p.dryRun(), matched != null, matched != null ? matched : why(p)));
            }
            if (!p.dryRun()) {
                anyAllow = true;
                if (matched != null && allower == null) {
                    allower = p.key();
                }
            }
        }
        if (denier != null) {
            return new Decision(false, "explicitly denied by: " + denier, denier, trace);
        }
        if (!anyAllow) {
            return new Decision(true, "no allow policies", null, trace);
        }
        if (allower != null) {
            return new Decision(true, "allowed by: " + allower, allower, trace);
        }
        return new Decision(false, NONE_ALLOWED, null, trace);
    }

    /** The policies that apply to {@code destination}, in a stable order. */
    public static List<Authorization> applicable(ProxyState state, Workload destination) {
        List<Authorization> out = new ArrayList<>(state.namespacePolicies(destination.namespace()));
        out.addAll(state.globalPolicies());
        for (String key : destination.authorizationPolicies()) {
            Authorization p = state.policy(key);
            if (p != null && !out.contains(p)) {
                out.add(p);
            }
        }
        return out;
    }

    /** The first matching rule as {@code "rule N matched"}, or null. */
    private static @Nullable String matchingRule(Authorization policy, Connection c, @Nullable String principal) {
        List<Authorization.Rule> rules = policy.rules();
        for (int i = 0; i < rules.size(); i++) {
            if (ruleMatches(rules.get(i), c, principal)) {
                return "rule " + i + " matched";
            }
        }
        return null;
    }

    private static String why(Authorization policy) {
        return policy.rules().isEmpty() ? "no rules (never matches)" : "no rule matched";
    }

    private static boolean ruleMatches(Authorization.Rule rule, Connection c, @Nullable String principal) {
        for (Authorization.Clause clause : rule.clauses()) {
            if (!clauseMatches(clause, c, principal)) {
                return false;
            }
        }
        return true;
    }

    private static boolean clauseMatches(Authorization.Clause clause, Connection c, @Nullable String principal) {
        if (clause.matches().isEmpty()) {
            return true;
        }
        for (Match m : clause.matches()) {
            if (!m.isEmpty() && matches(m, c, principal)) {
                return true;
            }
        }
        return false;
    }

    static boolean matches(Match m, Connection c) {
        return matches(
                m, c, c.sourceIdentity() == null ? null : c.sourceIdentity().principal());
    }

    private static boolean matches(Match m, Connection c, @Nullable String principal) {
        SpiffeId id = c.sourceIdentity();
        String namespace = id == null ? "" : id.namespace();
        if (!m.principals().isEmpty() && (principal == null || !anyString(m.principals(), principal))) {
            return false;
        }
        if (!m.notPrincipals().isEmpty() && principal != null && anyString(m.notPrincipals(), principal)) {
            return false;
        }
        // Plaintext has the empty namespace: presence and non-empty strings do not match it.
        if (!m.namespaces().isEmpty() && !anyString(m.namespaces(), namespace)) {
            return false;
        }
        if (!m.notNamespaces().isEmpty() && anyString(m.notNamespaces(), namespace)) {
            return false;
        }
        if (!m.serviceAccounts().isEmpty() && !anyServiceAccount(m.serviceAccounts(), id)) {
            return false;
        }
        if (!m.notServiceAccounts().isEmpty() && anyServiceAccount(m.notServiceAccounts(), id)) {
            return false;
        }
        if (!m.sourceIps().isEmpty() && !anyCidr(m.sourceIps(), c.sourceIp())) {
            return false;
        }
        if (!m.notSourceIps().isEmpty() && anyCidr(m.notSourceIps(), c.sourceIp())) {
            return false;
        }
        if (!m.destinationIps().isEmpty() && !anyCidr(m.destinationIps(), c.destinationIp())) {
            return false;
        }
        if (!m.notDestinationIps().isEmpty() && anyCidr(m.notDestinationIps(), c.destinationIp())) {
            return false;
        }
        if (!m.destinationPorts().isEmpty() && !m.destinationPorts().contains(c.destinationPort())) {
            return false;
        }
        return m.notDestinationPorts().isEmpty() || !m.notDestinationPorts().contains(c.destinationPort());
    }

    private static boolean anyString(List<StringMatch> matches, String value) {
        for (StringMatch s : matches) {
            if (s.matches(value)) {
                return true;
            }
        }
        return false;
    }

    private static boolean anyServiceAccount(List<Authorization.ServiceAccountMatch> matches, @Nullable SpiffeId id) {
        if (id == null) {
            return false;
        }
        for (Authorization.ServiceAccountMatch sa : matches) {
            if (sa.namespace().equals(id.namespace()) && sa.serviceAccount().equals(id.serviceAccount())) {
                return true;
            }
        }
        return false;
    }

    private static boolean anyCidr(List<Cidr> cidrs, InetAddress ip) {
        for (Cidr cidr : cidrs) {
            if (cidr.contains(ip)) {
                return true;
            }
        }
        return false;
    }
}
