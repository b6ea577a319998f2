package io.ztunnel.cni.rules;

import java.util.Objects;

/**
 * One iptables rule: its table, chain, and the match/target spec exactly as {@code
 * iptables-restore} takes it. Immutable.
 *
 * @param table {@code mangle}, {@code nat} or {@code raw}
 * @param chain the chain it is appended to (or inserted at the top of, see {@code first})
 * @param spec everything after {@code -A CHAIN}
 * @param first insert at position 1 ({@code -I CHAIN 1}) instead of appending
 */
public record IptablesRule(String table, String chain, String spec, boolean first) {
    public IptablesRule {
        Objects.requireNonNull(table, "table");
        Objects.requireNonNull(chain, "chain");
        Objects.requireNonNull(spec, "spec");
    }

    static IptablesRule append(String table, String chain, String spec) {
        return new IptablesRule(table, chain, spec, false);
    }

    /** The iptables-restore line that adds this rule. */
    String restoreLine() {
        return (first ? "-I " + chain + " 1 " : "-A " + chain + " ") + spec;
    }

    /** The jump target if this rule is a plain {@code -j CHAIN}, for recognising our jumps. */
    String target() {
        return IptablesSave.target(spec);
    }
}
