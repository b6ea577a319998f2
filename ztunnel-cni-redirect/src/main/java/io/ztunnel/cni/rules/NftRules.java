package io.ztunnel.cni.rules;

import java.util.ArrayList;
import java.util.List;

/**
 * Renders the native-nftables variant of the in-pod rules (istio-cni's {@code nativeNftables}):
 * three {@code inet} tables, {@value #NAT}, {@value #MANGLE} and (with DNS capture only) {@value
 * #RAW}, as one {@code nft -f -} script that deletes and recreates each table in a single atomic
 * transaction (each table is first added, so deleting one that does not exist cannot fail). Rules
 * match the iptables variant one for one; every rule carries a counter; IPv6 rules are added only
 * when asked. Pure functions; no I/O.
 */
public final class NftRules {
    public static final String NAT = "istio-ambient-nat";
    public static final String MANGLE = "istio-ambient-mangle";
    public static final String RAW = "istio-ambient-raw";

    /** Our tables, in the order they are written. */
    public static final List<String> TABLES = List.of(NAT, MANGLE, RAW);

    private static final String MARK_NOT_ZTUNNEL = "mark and 0xfff != 0x539";

    private NftRules() {}

    /** The script that replaces our tables with {@code set}'s rules ({@code ipv6}: add ip6 rules). */
    public static String script(InpodRuleSet set, boolean ipv6) {
        StringBuilder sb = new StringBuilder();
        boolean inbound = !set.ingressMode();
        String p4 = Addresses.format(set.probeSnatV4());
        String p6 = Addresses.format(set.probeSnatV6());

        List<String> nat = new ArrayList<>();
        nat.add("output jump istio-output");
        nat.add("prerouting jump istio-prerouting");
        for (String itf : set.virtualInterfaces()) {
            nat.add("istio-prerouting iifname " + itf + " meta l4proto tcp counter redirect to :15001");
            nat.add("istio-prerouting iifname " + itf + " meta l4proto tcp counter return");
        }
        if (inbound) {
            nat.add("istio-prerouting meta l4proto tcp ip saddr " + p4 + " counter accept");
            if (ipv6) {
                nat.add("istio-prerouting meta l4proto tcp ip6 saddr " + p6 + " counter accept");
            }
        }
        nat.add("istio-output meta l4proto tcp ip daddr " + p4 + " counter accept");
        if (ipv6) {
            nat.add("istio-output meta l4proto tcp ip6 daddr " + p6 + " counter accept");
        }
        if (inbound) {
            nat.add("istio-prerouting ip daddr != 127.0.0.1/32 tcp dport != 15008 "
                    + MARK_NOT_ZTUNNEL
                    + " counter redirect to :15006");
            if (ipv6) {
                nat.add("istio-prerouting ip6 daddr != ::1/128 tcp dport != 15008 "
                        + MARK_NOT_ZTUNNEL
                        + " counter redirect to :15006");
            }
        }
        if (set.dnsCapture()) {
            nat.add("istio-output oifname != lo " + MARK_NOT_ZTUNNEL + " udp dport 53 counter redirect to :15053");
            nat.add("istio-output ip daddr != 127.0.0.1/32 tcp dport 53 "
                    + MARK_NOT_ZTUNNEL
                    + " counter redirect to :15053");
            if (ipv6) {
                nat.add("istio-output ip6 daddr != ::1/128 tcp dport 53 "
                        + MARK_NOT_ZTUNNEL
                        + " counter redirect to :15053");
            }
        }
        nat.add("istio-output meta l4proto tcp mark and 0xfff == 0x111 counter accept");
        nat.add("istio-output oifname lo ip daddr != 127.0.0.1/32 counter accept");
        if (ipv6) {
            nat.add("istio-output oifname lo ip6 daddr != ::1/128 counter accept");
        }
        nat.add("istio-output meta l4proto tcp ip daddr != 127.0.0.1/32 "
                + MARK_NOT_ZTUNNEL
                + " counter redirect to :15001");
        if (ipv6) {
            nat.add("istio-output meta l4proto tcp ip6 daddr != ::1/128 "
                    + MARK_NOT_ZTUNNEL
                    + " counter redirect to :15001");
        }
        table(
                sb,
                NAT,
                "prerouting { type nat hook prerouting priority -100 ; }",
                "output { type nat hook output priority -100 ; }",
                nat);

        List<String> mangle = new ArrayList<>();
        mangle.add("prerouting jump istio-prerouting");
        mangle.add("output jump istio-output");
        if (inbound) {
            mangle.add("istio-prerouting meta mark & 0xfff == 0x539 counter ct mark set ct mark & 0xfffff000 |"
                    + " 0x111");
        }
        mangle.add("istio-output ct mark and 0xfff == 0x111 counter meta mark set ct mark");
        table(
                sb,
                MANGLE,
                "prerouting { type filter hook prerouting priority -150 ; }",
                "output { type route hook output priority -150 ; }",
                mangle);

        if (set.dnsCapture()) {
            List<String> raw = new ArrayList<>();
            raw.add("prerouting jump istio-prerouting");
            raw.add("output jump istio-output");
            raw.add("istio-output udp dport 53 meta mark and 0xfff == 0x539 counter ct zone set 1");
            raw.add("istio-prerouting udp sport 53 meta mark and 0xfff != 0x539 counter ct zone set 1");
            table(
                    sb,
                    RAW,
                    "prerouting { type filter hook prerouting priority -300 ; }",
                    "output { type filter hook output priority -300 ; }",
                    raw);
        } else {
            drop(sb, RAW);
        }
        return sb.toString();
    }

    /** The script that deletes our three tables (whether or not they exist). */
    public static String deleteScript() {
        StringBuilder sb = new StringBuilder();
        for (String t : TABLES) {
            drop(sb, t);
        }
        return sb.toString();
    }

    /**
     * Empties the base chains of our tables (their jumps into our chains), so nothing new is captured
     * while our chains, and the connection tracking they keep on, stay until {@link #deleteScript}.
     * A missing table or chain is created empty first, so the script never fails on it.
     */
    public static String unhookScript() {
        StringBuilder sb = new StringBuilder();
        for (String t : TABLES) {
            sb.append("add table inet ").append(t).append('\n');
            for (String chain : List.of("prerouting", "output")) {
                sb.append("add chain inet ").append(t).append(' ').append(chain).append('\n');
                sb.append("flush chain inet ")
                        .append(t)
                        .append(' ')
                        .append(chain)
                        .append('\n');
            }
        }
        return sb.toString();
    }

    private static void drop(StringBuilder sb, String table) {
        sb.append("add table inet ").append(table).append('\n');
        sb.append("delete table inet ").append(table).append('\n');
    }

    private static void table(StringBuilder sb, String table, String prerouting, String output, List<String> rules) {
        drop(sb, table);
        String prefix = "inet " + table + " ";
        sb.append("add table ").append(prefix.strip()).append('\n');
        sb.append("add chain ").append(prefix).append(prerouting).append('\n');
        sb.append("add chain ").append(prefix).append(output).append('\n');
        sb.append("add chain ").append(prefix).append("istio-prerouting\n");
        sb.append("add chain ").append(prefix).append("istio-output\n");
        for (String rule : rules) {
            sb.append("add rule ").append(prefix).append(rule).append('\n');
        }
    }
}
