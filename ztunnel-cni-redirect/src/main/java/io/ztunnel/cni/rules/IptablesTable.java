package io.ztunnel.cni.rules;

import java.util.List;
import java.util.Objects;

/**
 * What we own in one iptables table: the chains we create and the rules we add (our chains' rules
 * and the jumps into them from built-in chains), in restore order. Immutable.
 *
 * @param name the table
 * @param chains our chains, in the order they are created
 * @param rules our rules, in the order they are added
 */
public record IptablesTable(String name, List<String> chains, List<IptablesRule> rules) {
    public IptablesTable {
        Objects.requireNonNull(name, "name");
        chains = List.copyOf(chains);
        rules = List.copyOf(rules);
        for (IptablesRule r : rules) {
            if (!r.table().equals(name)) {
                throw new IllegalArgumentException("rule for table " + r.table() + " in table " + name);
            }
        }
    }
}
