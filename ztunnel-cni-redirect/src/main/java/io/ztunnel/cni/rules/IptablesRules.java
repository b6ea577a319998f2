package io.ztunnel.cni.rules;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Renders the in-pod iptables rules of Istio ≥ 1.24 (inbound REDIRECT to 15006, outbound REDIRECT
 * to 15001, connmark 0x111 for the daemon's spoofed inbound connections, the kubelet probe address
 * exempt; DNS to 15053 and the raw-table CT zone only with DNS capture) for one address family, in
 * the order and spelling istio-cni uses. Pure functions; no I/O.
 */
public final class IptablesRules {
    /** Our chain for PREROUTING, in mangle, nat and raw. */
    public static final String PRERT = "ISTIO_PRERT";

    /** Our chain for OUTPUT, in mangle, nat and raw. */
    public static final String OUTPUT = "ISTIO_OUTPUT";

    /** The chains we own inside a pod. */
    static final Set<String> OWNED_CHAINS = Set.of(PRERT, OUTPUT);

    /** The tables we touch inside a pod. */
    static final List<String> TABLES = List.of("mangle", "nat", "raw");

    /** {@code 1337/0xfff}: packets from the daemon's own sockets. */
    static final String INPOD_MARK = "0x539/0xfff";

    /** {@code 0x111/0xfff}: connections the daemon opened to the app with a spoofed source. */
    static final String TPROXY_MARK = "0x111/0xfff";

    static final int OUTBOUND_PORT = 15001;
    static final int INBOUND_PLAINTEXT_PORT = 15006;
    static final int INBOUND_HBONE_PORT = 15008;
    static final int DNS_PORT = 15053;

    private IptablesRules() {}

    /**
     * What we own in each table for {@code family}: mangle and nat always, raw only with DNS capture.
     */
    public static List<IptablesTable> tables(InpodRuleSet set, IpFamily family) {
        String lo = family.loopback();
        String probe = family.probeAddress(set);
        boolean inbound = !set.ingressMode();

        List<IptablesRule> mangle = new ArrayList<>();
        mangle.add(IptablesRule.append("mangle", "PREROUTING", "-j " + PRERT));
        mangle.add(IptablesRule.append("mangle", "OUTPUT", "-j " + OUTPUT));
        if (inbound) {
            mangle.add(IptablesRule.append(
                    "mangle", PRERT, "-m mark --mark " + INPOD_MARK + " -j CONNMARK --set-xmark " + TPROXY_MARK));
        }
        mangle.add(IptablesRule.append(
                "mangle",
                OUTPUT,
                "-m connmark --mark "
                        + TPROXY_MARK
                        + " -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff"));

        List<IptablesRule> nat = new ArrayList<>();
        nat.add(IptablesRule.append("nat", "OUTPUT", "-j " + OUTPUT));
        nat.add(IptablesRule.append("nat", "PREROUTING", "-j " + PRERT));
        for (String itf : set.virtualInterfaces()) {
            nat.add(IptablesRule.append("nat", PRERT, "-i " + itf + " -p tcp -j REDIRECT --to-ports " + OUTBOUND_PORT));
            nat.add(IptablesRule.append("nat", PRERT, "-i " + itf + " -p tcp -j RETURN"));
        }
        if (inbound) {
            nat.add(IptablesRule.append("nat", PRERT, "-s " + probe + " -p tcp -m tcp -j ACCEPT"));
        }
        nat.add(IptablesRule.append("nat", OUTPUT, "-d " + probe + " -p tcp -m tcp -j ACCEPT"));
        if (inbound) {
            nat.add(IptablesRule.append(
                    "nat",
                    PRERT,
                    "! -d "
                            + lo
                            + " -p tcp ! --dport "
                            + INBOUND_HBONE_PORT
                            + " -m mark ! --mark "
                            + INPOD_MARK
                            + " -j REDIRECT --to-ports "
                            + INBOUND_PLAINTEXT_PORT));
        }
        if (set.dnsCapture()) {
            nat.add(IptablesRule.append(
                    "nat",
                    OUTPUT,
                    "! -o lo -p udp -m mark ! --mark "
                            + INPOD_MARK
                            + " -m udp --dport 53 -j REDIRECT --to-port "
                            + DNS_PORT));
            nat.add(IptablesRule.append(
                    "nat",
                    OUTPUT,
                    "! -d "
                            + lo
                            + " -p tcp --dport 53 -m mark ! --mark "
                            + INPOD_MARK
                            + " -j REDIRECT --to-ports "
                            + DNS_PORT));
        }
        nat.add(IptablesRule.append("nat", OUTPUT, "-p tcp -m mark --mark " + TPROXY_MARK + " -j ACCEPT"));
        nat.add(IptablesRule.append("nat", OUTPUT, "! -d " + lo + " -o lo -j ACCEPT"));
        nat.add(IptablesRule.append(
                "nat",
                OUTPUT,
                "! -d " + lo + " -p tcp -m mark ! --mark " + INPOD_MARK + " -j REDIRECT --to-ports " + OUTBOUND_PORT));

        List<IptablesTable> tables = new ArrayList<>();
        tables.add(new IptablesTable("mangle", List.of(PRERT, OUTPUT), mangle));
        tables.add(new IptablesTable("nat", List.of(PRERT, OUTPUT), nat));
        if (set.dnsCapture()) {
            List<IptablesRule> raw = new ArrayList<>();
            raw.add(IptablesRule.append("raw", "PREROUTING", "-j " + PRERT));
            raw.add(IptablesRule.append("raw", "OUTPUT", "-j " + OUTPUT));
            raw.add(IptablesRule.append(
                    "raw", OUTPUT, "-p udp -m mark --mark " + INPOD_MARK + " -m udp --dport 53 -j CT --zone 1"));
            raw.add(IptablesRule.append(
                    "raw", PRERT, "-p udp -m mark ! --mark " + INPOD_MARK + " -m udp --sport 53 -j CT --zone 1"));
            tables.add(new IptablesTable("raw", List.of(OUTPUT, PRERT), raw));
        }
        return tables;
    }

    /**
     * The {@code iptables-restore --noflush} input that creates our chains and rules in a namespace
     * that has none of them (see {@link IptablesSync} for one that has).
     */
    public static String restoreInput(InpodRuleSet set, IpFamily family) {
        return render(tables(set, family));
    }

    /** Renders tables as iptables-restore input: {@code * table}, {@code -N}, rules, {@code COMMIT}. */
    static String render(List<IptablesTable> tables) {
        StringBuilder sb = new StringBuilder();
        for (IptablesTable t : tables) {
            sb.append("* ").append(t.name()).append('\n');
            for (String chain : t.chains()) {
                sb.append("-N ").append(chain).append('\n');
            }
            for (IptablesRule r : t.rules()) {
                sb.append(r.restoreLine()).append('\n');
            }
            sb.append("COMMIT\n");
        }
        return sb.toString();
    }
}
