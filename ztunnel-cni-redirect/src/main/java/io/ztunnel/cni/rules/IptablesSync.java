package io.ztunnel.cni.rules;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.jspecify.annotations.Nullable;

/**
 * Compares what we own in a namespace's iptables (per {@code iptables-save}) with what we want
 * there, and plans the one {@code iptables-restore --noflush} transaction that gets from one to the
 * other. Pure; no I/O.
 *
 * <p>"What we own" is our chains (e.g. {@code ISTIO_PRERT}, {@code ISTIO_OUTPUT}) in the tables we
 * manage, their rules, and every rule elsewhere that jumps into them. A table is in sync when our
 * chains are exactly the wanted ones, each holds exactly the wanted rules in order, and the jumps
 * into them are exactly the wanted ones (compared in {@link IptablesSave#canonical canonical
 * form}). Rules of other owners are never touched.
 *
 * <p>The plan for a table that is out of sync deletes each jump into our chains as listed, flushes
 * (by re-declaring) the wanted chains that exist, flushes and deletes the unwanted ones, creates
 * the missing ones, then adds the wanted rules. Because {@code iptables-restore} commits a table at
 * once, traffic never sees a half-built state, and there is nothing "not found" to ignore: only
 * what the listing showed is deleted. For a namespace that has none of our rules the plan is
 * exactly {@link IptablesRules#render}.
 */
final class IptablesSync {
    private IptablesSync() {}

    /**
     * The transaction that makes {@code current} hold exactly {@code wanted} in {@code managedTables}
     * (a managed table absent from {@code wanted} must end up without our chains), or empty when it
     * already does.
     */
    static Optional<String> plan(
            List<IptablesTable> wanted,
            Set<String> ownedChains,
            Collection<String> managedTables,
            Map<String, IptablesSave.Table> current) {
        Map<String, IptablesTable> byName = new HashMap<>();
        for (IptablesTable t : wanted) {
            byName.put(t.name(), t);
        }
        StringBuilder sb = new StringBuilder();
        for (String name : managedTables) {
            IptablesTable want = byName.getOrDefault(name, new IptablesTable(name, List.of(), List.of()));
            IptablesSave.@Nullable Table have = current.get(name);
            if (inSync(want, ownedChains, have)) {
                continue;
            }
            sb.append("* ").append(name).append('\n');
            List<String> existing = new ArrayList<>();
            if (have != null) {
                for (IptablesSave.Rule r : have.rules()) {
                    if (!ownedChains.contains(r.chain()) && ownedChains.contains(IptablesSave.target(r.spec()))) {
                        sb.append("-D ")
                                .append(r.chain())
                                .append(' ')
                                .append(r.spec())
                                .append('\n');
                    }
                }
                for (String chain : have.chains()) {
                    if (ownedChains.contains(chain)) {
                        existing.add(chain);
                    }
                }
            }
            for (String chain : existing) {
                if (want.chains().contains(chain)) {
                    sb.append(':').append(chain).append(" - [0:0]\n"); // with --noflush: flush it
                } else {
                    sb.append("-F ").append(chain).append('\n');
                    sb.append("-X ").append(chain).append('\n');
                }
            }
            for (String chain : want.chains()) {
                if (!existing.contains(chain)) {
                    sb.append("-N ").append(chain).append('\n');
                }
            }
            for (IptablesRule r : want.rules()) {
                sb.append(r.restoreLine()).append('\n');
            }
            sb.append("COMMIT\n");
        }
        return sb.isEmpty() ? Optional.empty() : Optional.of(sb.toString());
    }

    /**
     * The transaction that deletes only the jumps into our chains in {@code managedTables} (our chains
     * and their rules stay), or empty when there is none. With the jumps gone no new connection is
     * captured, while the chains' NAT rules keep the kernel tracking (and translating) the connections
     * captured so far: deleting the last NAT rule of a namespace can stop connection tracking there,
     * and then the daemon's close of a redirected connection never reaches the app.
     */
    static Optional<String> unhookPlan(
            Set<String> ownedChains, Collection<String> managedTables, Map<String, IptablesSave.Table> current) {
        StringBuilder sb = new StringBuilder();
        for (String name : managedTables) {
            IptablesSave.@Nullable Table have = current.get(name);
            if (have == null) {
                continue;
            }
            StringBuilder table = new StringBuilder();
            for (IptablesSave.Rule r : have.rules()) {
                if (!ownedChains.contains(r.chain()) && ownedChains.contains(IptablesSave.target(r.spec()))) {
                    table.append("-D ")
                            .append(r.chain())
                            .append(' ')
                            .append(r.spec())
                            .append('\n');
                }
            }
            if (!table.isEmpty()) {
                sb.append("* ").append(name).append('\n').append(table).append("COMMIT\n");
            }
        }
        return sb.isEmpty() ? Optional.empty() : Optional.of(sb.toString());
    }

    /** Whether any of our chains or jumps into them are in {@code current}'s managed tables. */
    static boolean hasResidue(
            Set<String> ownedChains, Collection<String> managedTables, Map<String, IptablesSave.Table> current) {
        for (String name : managedTables) {
            IptablesSave.@Nullable Table have = current.get(name);
            if (have == null) {
                continue;
            }
            if (have.chains().stream().anyMatch(ownedChains::contains)) {
                return true;
            }
            if (have.rules().stream().anyMatch(r -> ownedChains.contains(IptablesSave.target(r.spec())))) {
                return true;
            }
        }
        return false;
    }

    /**
     * A readable description of how {@code current} differs from {@code wanted}, one line per table
     * that is out of sync; empty when in sync.
     */
    static List<String> differences(
            List<IptablesTable> wanted,
            Set<String> ownedChains,
            Collection<String> managedTables,
            Map<String, IptablesSave.Table> current) {
        Map<String, IptablesTable> byName = new HashMap<>();
        for (IptablesTable t : wanted) {
            byName.put(t.name(), t);
        }
        List<String> out = new ArrayList<>();
        for (String name : managedTables) {
            IptablesTable want = byName.getOrDefault(name, new IptablesTable(name, List.of(), List.of()));
            IptablesSave.@Nullable Table have = current.get(name);
            if (!inSync(want, ownedChains, have)) {
                out.add(name
                        + ": want "
                        + describe(ownedOf(want))
                        + ", have "
                        + describe(have == null ? Map.of() : ownedOf(have, ownedChains)));
            }
        }
        return out;
    }

    private static boolean inSync(IptablesTable want, Set<String> ownedChains, IptablesSave.@Nullable Table have) {
        Map<String, List<String>> wantOwned = ownedOf(want);
        Map<String, List<String>> haveOwned = have == null ? Map.of() : ownedOf(have, ownedChains);
        return wantOwned.equals(haveOwned);
    }

    /**
     * Chain → canonical rules, for our chains (even when empty) and, under the key {@code "jumps
     * from X"}, the sorted jumps from another chain into ours.
     */
    private static Map<String, List<String>> ownedOf(IptablesTable t) {
        Map<String, List<String>> m = new HashMap<>();
        for (String chain : t.chains()) {
            m.put(chain, new ArrayList<>());
        }
        for (IptablesRule r : t.rules()) {
            String key = t.chains().contains(r.chain()) ? r.chain() : "jumps from " + r.chain();
            m.computeIfAbsent(key, k -> new ArrayList<>()).add(IptablesSave.canonical(r.spec()));
        }
        m.replaceAll((k, v) -> k.startsWith("jumps from ") ? v.stream().sorted().toList() : v);
        return m;
    }

    private static Map<String, List<String>> ownedOf(IptablesSave.Table t, Set<String> ownedChains) {
        Map<String, List<String>> m = new HashMap<>();
        for (String chain : t.chains()) {
            if (ownedChains.contains(chain)) {
                m.put(chain, new ArrayList<>());
            }
        }
        for (IptablesSave.Rule r : t.rules()) {
            String key;
            if (ownedChains.contains(r.chain())) {
                key = r.chain();
            } else if (ownedChains.contains(IptablesSave.target(r.spec()))) {
                key = "jumps from " + r.chain();
            } else {
                continue;
            }
            m.computeIfAbsent(key, k -> new ArrayList<>()).add(IptablesSave.canonical(r.spec()));
        }
        m.replaceAll((k, v) -> k.startsWith("jumps from ") ? v.stream().sorted().toList() : v);
        return m;
    }

    private static String describe(Map<String, List<String>> owned) {
        if (owned.isEmpty()) {
            return "nothing";
        }
        return owned.entrySet().stream()
                .sorted(Map.Entry.comparingByKey())
                .map(e -> e.getKey() + " (" + e.getValue().size() + " rules)")
                .collect(Collectors.joining(", "));
    }
}
