package io.ztunnel.core.state;

import java.util.ArrayList;
import java.util.List;

/**
 * An L4 authorization policy ({@code istio.security.Authorization}). {@code rules} are ORed; each rule's clauses are
 * ANDed; each clause's matches are ORed. Immutable.
 */
public record Authorization(
        String name, String namespace, Scope scope, Action action, List<Rule> rules, boolean dryRun) {

    public Authorization {
        namespace = namespace == null ? "" : namespace;
        rules = List.copyOf(rules);
    }

    /** The xDS resource name, {@code namespace/name}. */
    public String key() {
        return namespace + "/" + name;
    }

    public enum Scope {
        GLOBAL,
        NAMESPACE,
        WORKLOAD_SELECTOR
    }

    public enum Action {
        ALLOW,
        DENY
    }

    /** Clauses that must all match. */
    public record Rule(List<Clause> clauses) {
        public Rule {
            clauses = List.copyOf(clauses);
        }
    }

    /** Matches of which one must match (an empty clause matches). */
    public record Clause(List<Match> matches) {
        public Clause {
            matches = List.copyOf(matches);
        }
    }

    /** Conditions on one connection; every populated field must hold. A match with every field empty never matches. */
    public record Match(
            List<StringMatch> namespaces,
            List<StringMatch> notNamespaces,
            List<ServiceAccountMatch> serviceAccounts,
            List<ServiceAccountMatch> notServiceAccounts,
            List<StringMatch> principals,
            List<StringMatch> notPrincipals,
            List<Cidr> sourceIps,
            List<Cidr> notSourceIps,
            List<Cidr> destinationIps,
            List<Cidr> notDestinationIps,
            List<Integer> destinationPorts,
            List<Integer> notDestinationPorts) {

        public Match {
            namespaces = copy(namespaces);
            notNamespaces = copy(notNamespaces);
            serviceAccounts = copy(serviceAccounts);
            notServiceAccounts = copy(notServiceAccounts);
            principals = copy(principals);
            notPrincipals = copy(notPrincipals);
            sourceIps = copy(sourceIps);
            notSourceIps = copy(notSourceIps);
            destinationIps = copy(destinationIps);
            notDestinationIps = copy(notDestinationIps);
            destinationPorts = copy(destinationPorts);
            notDestinationPorts = copy(notDestinationPorts);
        }

        public static Match empty() {
            return new Match(
                    List.of(), List.of(), List.of(), List.of(), List.of(), List.of(), List.of(), List.of(), List.of(),
                    List.of(), List.of(), List.of());
        }

        /** A mutable builder; string arguments are exact matches, IP arguments CIDRs. Not thread-safe. */
        public static final class Builder {
            private final List<StringMatch> namespaces = new ArrayList<>();
            private final List<StringMatch> notNamespaces = new ArrayList<>();
            private final List<ServiceAccountMatch> serviceAccounts = new ArrayList<>();
            private final List<ServiceAccountMatch> notServiceAccounts = new ArrayList<>();
            private final List<StringMatch> principals = new ArrayList<>();
            private final List<StringMatch> notPrincipals = new ArrayList<>();
            private final List<Cidr> sourceIps = new ArrayList<>();
            private final List<Cidr> notSourceIps = new ArrayList<>();
            private final List<Cidr> destinationIps = new ArrayList<>();
            private final List<Cidr> notDestinationIps = new ArrayList<>();
            private final List<Integer> ports = new ArrayList<>();
            private final List<Integer> notPorts = new ArrayList<>();

            public Builder namespaces(String... v) {
                for (String x : v) namespaces.add(new StringMatch.Exact(x));
                return this;
            }

            public Builder namespaces(StringMatch... v) {
                namespaces.addAll(List.of(v));
                return this;
            }

            public Builder notNamespaces(String... v) {
                for (String x : v) notNamespaces.add(new StringMatch.Exact(x));
                return this;
            }

            public Builder serviceAccounts(ServiceAccountMatch... v) {
                serviceAccounts.addAll(List.of(v));
                return this;
            }

            public Builder notServiceAccounts(ServiceAccountMatch... v) {
                notServiceAccounts.addAll(List.of(v));
                return this;
            }

            public Builder principals(StringMatch... v) {
                principals.addAll(List.of(v));
                return this;
            }

            public Builder notPrincipals(StringMatch... v) {
                notPrincipals.addAll(List.of(v));
                return this;
            }

            public Builder sourceIps(String... v) {
                for (String x : v) sourceIps.add(Cidr.parse(x));
                return this;
            }

            public Builder notSourceIps(String... v) {
                for (String x : v) notSourceIps.add(Cidr.parse(x));
                return this;
            }

            public Builder destinationIps(String... v) {
                for (String x : v) destinationIps.add(Cidr.parse(x));
                return this;
            }

            public Builder notDestinationIps(String... v) {
                for (String x : v) notDestinationIps.add(Cidr.parse(x));
                return this;
            }

            public Builder ports(Integer... v) {
                ports.addAll(List.of(v));
                return this;
            }

            public Builder notPorts(Integer... v) {
                notPorts.addAll(List.of(v));
                return this;
            }

            public Match build() {
                return new Match(
                        namespaces,
                        notNamespaces,
                        serviceAccounts,
                        notServiceAccounts,
                        principals,
                        notPrincipals,
                        sourceIps,
                        notSourceIps,
                        destinationIps,
                        notDestinationIps,
                        ports,
                        notPorts);
            }
        }

        public boolean isEmpty() {
            return namespaces.isEmpty()
                    && notNamespaces.isEmpty()
                    && serviceAccounts.isEmpty()
                    && notServiceAccounts.isEmpty()
                    && principals.isEmpty()
                    && notPrincipals.isEmpty()
                    && sourceIps.isEmpty()
                    && notSourceIps.isEmpty()
                    && destinationIps.isEmpty()
                    && notDestinationIps.isEmpty()
                    && destinationPorts.isEmpty()
                    && notDestinationPorts.isEmpty();
        }

        private static <T> List<T> copy(List<T> list) {
            return list == null ? List.of() : List.copyOf(list);
        }
    }

    /** A string condition: exact, prefix, suffix, or presence (non-empty). */
    public sealed interface StringMatch {
        boolean matches(String value);

        record Exact(String value) implements StringMatch {
            @Override
            public boolean matches(String v) {
                return value.equals(v);
            }
        }

        record Prefix(String value) implements StringMatch {
            @Override
            public boolean matches(String v) {
                return v.startsWith(value);
            }
        }

        record Suffix(String value) implements StringMatch {
            @Override
            public boolean matches(String v) {
                return v.endsWith(value);
            }
        }

        record Presence() implements StringMatch {
            @Override
            public boolean matches(String v) {
                return !v.isEmpty();
            }
        }
    }

    /** A service account in a namespace; the trust domain is not compared. */
    public record ServiceAccountMatch(String namespace, String serviceAccount) {}
}
