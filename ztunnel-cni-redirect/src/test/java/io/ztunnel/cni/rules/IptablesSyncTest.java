package io.ztunnel.cni.rules;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Comparing wanted rules with iptables-save listings (real listings captured from iptables 1.8.9,
 * nft and legacy backends) and planning the restore transaction.
 */
class IptablesSyncTest {
    private static final InpodRuleSet DNS =
            InpodRuleSet.of(RedirectSettings.defaults().withDnsCapture(true));
    private static final InpodRuleSet DEFAULT =
            InpodRuleSet.of(RedirectSettings.defaults().withDnsCapture(false));

    private static Optional<String> plan(InpodRuleSet set, IpFamily f, String listing) {
        return IptablesSync.plan(
                IptablesRules.tables(set, f),
                IptablesRules.OWNED_CHAINS,
                IptablesRules.TABLES,
                IptablesSave.parse(listing));
    }

    @Test
    void rulesAsIptablesSavePrintsThemAreInSync() {
        assertThat(plan(DNS, IpFamily.V4, Goldens.read("save-dns-v4-nft.txt"))).isEmpty();
        assertThat(plan(DNS, IpFamily.V6, Goldens.read("save-dns-v6-nft.txt"))).isEmpty();
        InpodRuleSet virt = InpodRuleSet.resolve(
                RedirectSettings.defaults().withDnsCapture(false),
                PodOverrides.fromAnnotations(Map.of(PodOverrides.REROUTE_VIRTUAL_INTERFACES, "tap0,veth9")));
        assertThat(plan(virt, IpFamily.V4, Goldens.read("save-virtual-interfaces-v4-legacy.txt")))
                .isEmpty();
    }

    @Test
    void aCleanNamespaceGetsExactlyTheGoldenInput() {
        String empty = """
        *nat
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        -A OUTPUT -d 10.9.9.9/32 -j ACCEPT
        COMMIT
        """;
        assertThat(plan(DEFAULT, IpFamily.V4, empty)).contains(Goldens.read("iptables-default-v4.golden"));
    }

    @Test
    void driftedRulesAreReplacedInOneTransactionThatFlushesAndRecreates() {
        // DNS rules present but DNS capture now off: raw must go, nat must be rewritten, mangle stays.
        String planned =
                plan(DEFAULT, IpFamily.V4, Goldens.read("save-dns-v4-nft.txt")).orElseThrow();
        assertThat(planned).isEqualTo("""
            * nat
            -D PREROUTING -j ISTIO_PRERT
            -D OUTPUT -j ISTIO_OUTPUT
            :ISTIO_OUTPUT - [0:0]
            :ISTIO_PRERT - [0:0]
            -A OUTPUT -j ISTIO_OUTPUT
            -A PREROUTING -j ISTIO_PRERT
            -A ISTIO_PRERT -s 169.254.7.127 -p tcp -m tcp -j ACCEPT
            -A ISTIO_OUTPUT -d 169.254.7.127 -p tcp -m tcp -j ACCEPT
            -A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15006
            -A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT
            -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT
            -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001
            COMMIT
            * raw
            -D PREROUTING -j ISTIO_PRERT
            -D OUTPUT -j ISTIO_OUTPUT
            -F ISTIO_OUTPUT
            -X ISTIO_OUTPUT
            -F ISTIO_PRERT
            -X ISTIO_PRERT
            COMMIT
            """);
    }

    @Test
    void stoppingTheCaptureDeletesOnlyTheJumpsAndKeepsTheChainsAndTheirRules() {
        String listing = Goldens.read("save-dns-v4-nft.txt");
        String planned = IptablesSync.unhookPlan(
                        IptablesRules.OWNED_CHAINS, IptablesRules.TABLES, IptablesSave.parse(listing))
                .orElseThrow();
        assertThat(planned).isEqualTo("""
            * mangle
            -D PREROUTING -j ISTIO_PRERT
            -D OUTPUT -j ISTIO_OUTPUT
            COMMIT
            * nat
            -D PREROUTING -j ISTIO_PRERT
            -D OUTPUT -j ISTIO_OUTPUT
            COMMIT
            * raw
            -D PREROUTING -j ISTIO_PRERT
            -D OUTPUT -j ISTIO_OUTPUT
            COMMIT
            """);
        String after = listing.lines()
                        .filter(l ->
                                !l.equals("-A PREROUTING -j ISTIO_PRERT") && !l.equals("-A OUTPUT -j ISTIO_OUTPUT"))
                        .collect(Collectors.joining("\n"))
                + "\n";
        assertThat(IptablesSync.unhookPlan(IptablesRules.OWNED_CHAINS, IptablesRules.TABLES, IptablesSave.parse(after)))
                .as("nothing left to unhook")
                .isEmpty();
        assertThat(IptablesSync.hasResidue(IptablesRules.OWNED_CHAINS, IptablesRules.TABLES, IptablesSave.parse(after)))
                .as("the chains are still there for the full removal")
                .isTrue();
    }

    @Test
    void aDuplicatedJumpIsDrift() {
        String listing = Goldens.read("save-dns-v4-nft.txt")
                .replace("-A OUTPUT -j ISTIO_OUTPUT\n", "-A OUTPUT -j ISTIO_OUTPUT\n-A OUTPUT -j ISTIO_OUTPUT\n");
        String planned = plan(DNS, IpFamily.V4, listing).orElseThrow();
        assertThat(planned.lines()
                        .filter(l -> l.equals("-D OUTPUT -j ISTIO_OUTPUT"))
                        .count())
                .isGreaterThanOrEqualTo(2);
    }

    @Test
    void aMissingRuleIsReportedAsADifference() {
        String listing = Goldens.read("save-dns-v4-nft.txt")
                .replace("-A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT\n", "");
        List<String> diff = IptablesSync.differences(
                IptablesRules.tables(DNS, IpFamily.V4),
                IptablesRules.OWNED_CHAINS,
                IptablesRules.TABLES,
                IptablesSave.parse(listing));
        assertThat(diff).hasSize(1);
        assertThat(diff.getFirst())
                .startsWith("nat: want")
                .contains("ISTIO_OUTPUT (6 rules)", "ISTIO_OUTPUT (5 rules)");
    }

    @Test
    void removalPlanDeletesOnlyWhatIsThereAndLeavesOtherRulesAlone() {
        String listing = """
        *nat
        :PREROUTING ACCEPT [0:0]
        :OUTPUT ACCEPT [0:0]
        :ISTIO_OUTPUT - [0:0]
        :KUBE-SERVICES - [0:0]
        -A OUTPUT -m comment --comment "kube services" -j KUBE-SERVICES
        -A OUTPUT -j ISTIO_OUTPUT
        -A ISTIO_OUTPUT -p tcp -j REDIRECT --to-ports 15001
        COMMIT
        """;
        String planned = IptablesSync.plan(
                        List.of(), IptablesRules.OWNED_CHAINS, IptablesRules.TABLES, IptablesSave.parse(listing))
                .orElseThrow();
        assertThat(planned).isEqualTo("""
            * nat
            -D OUTPUT -j ISTIO_OUTPUT
            -F ISTIO_OUTPUT
            -X ISTIO_OUTPUT
            COMMIT
            """);
        assertThat(IptablesSync.plan(
                        List.of(),
                        IptablesRules.OWNED_CHAINS,
                        IptablesRules.TABLES,
                        IptablesSave.parse("*nat\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n")))
                .isEmpty();
    }

    @Test
    void canonicalFormIgnoresSpellingDifferencesButNotMeaning() {
        assertThat(IptablesSave.canonical("! -d 127.0.0.1/32 -p tcp ! --dport 15008 -j REDIRECT --to-port 15006"))
                .isEqualTo(IptablesSave.canonical(
                        "-p tcp ! -d 127.0.0.1 -m tcp ! --dport 15008 -j REDIRECT --to-ports 15006"));
        assertThat(IptablesSave.canonical("-s fd16:9254:7127:1337:ffff:ffff:ffff:ffff -j ACCEPT"))
                .isEqualTo(IptablesSave.canonical("-s fd16:9254:7127:1337:FFFF:ffff:ffff:ffff/128 -j ACCEPT"));
        assertThat(IptablesSave.canonical("-p tcp --dport 53 -j ACCEPT"))
                .isNotEqualTo(IptablesSave.canonical("-p tcp ! --dport 53 -j ACCEPT"));
        assertThat(IptablesSave.canonical("! -d 127.0.0.1/32 -j ACCEPT"))
                .isNotEqualTo(IptablesSave.canonical("-d 127.0.0.1/32 -j ACCEPT"));
    }
}
