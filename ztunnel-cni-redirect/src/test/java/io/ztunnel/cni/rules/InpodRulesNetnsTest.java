package io.ztunnel.cni.rules;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ztunnel.cni.exec.CommandException;
import io.ztunnel.cni.exec.CommandRunner;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.testing.NoFdLeaks;
import io.ztunnel.cni.testing.RequiresNetns;
import io.ztunnel.cni.testing.TestNetns;
import java.net.InetAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The rules in real namespaces: what {@code iptables-save}, {@code ip rule} and {@code nft list
 * ruleset} show after apply, after a second apply, after drift and after remove.
 */
@RequiresNetns(tools = {"iptables-restore", "ip6tables-restore", "nft", "nsenter"})
@ExtendWith(NoFdLeaks.class)
class InpodRulesNetnsTest {
    private static final String POD = "test/pod";
    private static final RedirectSettings DEFAULTS = RedirectSettings.defaults().withDnsCapture(false);

    /** The listing without comments and counters, so two listings of the same rules are equal. */
    private static String save(TestNetns ns, String tool) throws Exception {
        return ns.exec(tool)
                .lines()
                .filter(l -> !l.startsWith("#"))
                .map(l -> l.replaceAll("\\[\\d+:\\d+\\]", "[0:0]"))
                .reduce("", (a, b) -> a + b + "\n");
    }

    /** Every rule line of a listing, minus the header lines. */
    private static List<String> ruleLines(String listing) {
        return listing.lines().filter(l -> l.startsWith("-A ")).toList();
    }

    @Test
    void iptablesApplyInstallsExactlyIstiosRulesForBothFamilies() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            ns.addInterface("10.70.0.2/24");
            IptablesRedirector redirector = new IptablesRedirector();
            assertThat(redirector.apply(netns, POD, InpodRuleSet.of(DEFAULTS))).isTrue();

            String v4 = save(ns, "iptables-save");
            assertThat(ruleLines(v4))
                    .containsExactlyInAnyOrder(
                            "-A PREROUTING -j ISTIO_PRERT",
                            "-A OUTPUT -j ISTIO_OUTPUT",
                            "-A ISTIO_OUTPUT -m connmark --mark 0x111/0xfff -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff",
                            "-A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff",
                            "-A PREROUTING -j ISTIO_PRERT",
                            "-A OUTPUT -j ISTIO_OUTPUT",
                            "-A ISTIO_OUTPUT -d 169.254.7.127/32 -p tcp -m tcp -j ACCEPT",
                            "-A ISTIO_OUTPUT -p tcp -m mark --mark 0x111/0xfff -j ACCEPT",
                            "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT",
                            "-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001",
                            "-A ISTIO_PRERT -s 169.254.7.127/32 -p tcp -m tcp -j ACCEPT",
                            "-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -m tcp ! --dport 15008 -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15006");
            assertThat(v4).doesNotContain("*raw").doesNotContain("15053");

            String v6 = save(ns, "ip6tables-save");
            assertThat(ruleLines(v6))
                    .hasSize(12)
                    .contains(
                            "-A ISTIO_PRERT -s fd16:9254:7127:1337:ffff:ffff:ffff:ffff/128 -p tcp -m tcp -j ACCEPT",
                            "-A ISTIO_OUTPUT ! -d ::1/128 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001");

            assertThat(ns.exec("ip", "-4", "rule", "list", "pref", "32764"))
                    .contains("from all fwmark 0x111/0xfff lookup 100");
            assertThat(ns.exec("ip", "-6", "rule", "list", "pref", "32764"))
                    .contains("from all fwmark 0x111/0xfff lookup 100");
            assertThat(ns.exec("ip", "-4", "route", "show", "table", "100")).contains("local default dev lo");
            assertThat(ns.exec("ip", "-6", "route", "show", "table", "100")).contains("local default dev lo");
            assertThat(redirector.drift(netns, POD, InpodRuleSet.of(DEFAULTS))).isEmpty();
        }
    }

    @Test
    void applyingTwiceChangesNothing() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            IptablesRedirector redirector = new IptablesRedirector();
            InpodRuleSet rules = InpodRuleSet.of(DEFAULTS.withDnsCapture(true));
            redirector.apply(netns, POD, rules);
            String v4 = save(ns, "iptables-save");
            String v6 = save(ns, "ip6tables-save");
            String ipRules = ns.exec("ip", "-4", "rule") + ns.exec("ip", "-6", "rule");

            assertThat(redirector.apply(netns, POD, rules))
                    .as("second apply changed something")
                    .isFalse();
            assertThat(save(ns, "iptables-save")).isEqualTo(v4);
            assertThat(save(ns, "ip6tables-save")).isEqualTo(v6);
            assertThat(ns.exec("ip", "-4", "rule") + ns.exec("ip", "-6", "rule"))
                    .isEqualTo(ipRules);
            assertThat(ruleLines(v4)).hasSize(18); // mangle 4, nat 10, raw 4
        }
    }

    @Test
    void driftIsDetectedAndRepairedWithoutDuplicates() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            IptablesRedirector redirector = new IptablesRedirector();
            InpodRuleSet rules = InpodRuleSet.of(DEFAULTS);
            redirector.apply(netns, POD, rules);
            String good = save(ns, "iptables-save");

            ns.exec(
                    "iptables",
                    "-t",
                    "nat",
                    "-D",
                    "ISTIO_OUTPUT",
                    "-p",
                    "tcp",
                    "-m",
                    "mark",
                    "--mark",
                    "0x111/0xfff",
                    "-j",
                    "ACCEPT");
            ns.exec("iptables", "-t", "mangle", "-A", "OUTPUT", "-j", "ISTIO_OUTPUT");
            ns.exec("iptables", "-t", "raw", "-N", "ISTIO_PRERT");
            assertThat(redirector.drift(netns, POD, rules))
                    .anyMatch(d -> d.startsWith("V4 nat"))
                    .anyMatch(d -> d.startsWith("V4 mangle"))
                    .anyMatch(d -> d.startsWith("V4 raw"));

            assertThat(redirector.apply(netns, POD, rules)).isTrue();
            assertThat(redirector.drift(netns, POD, rules)).isEmpty();
            assertThat(ruleLines(save(ns, "iptables-save"))).containsExactlyInAnyOrderElementsOf(ruleLines(good));
            assertThat(save(ns, "iptables-save"))
                    .doesNotContain("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:ISTIO");
        }
    }

    @Test
    void removeLeavesNothingOfOursAndOthersRulesUntouched() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            ns.exec("iptables", "-t", "nat", "-A", "OUTPUT", "-d", "10.99.0.1/32", "-j", "ACCEPT");
            ns.exec("ip", "rule", "add", "fwmark", "0x7", "pref", "1000", "lookup", "200");
            IptablesRedirector redirector = new IptablesRedirector();
            redirector.apply(netns, POD, InpodRuleSet.of(DEFAULTS.withDnsCapture(true)));

            redirector.remove(netns, POD);
            String v4 = save(ns, "iptables-save");
            String v6 = save(ns, "ip6tables-save");
            assertThat(v4 + v6).doesNotContain("ISTIO");
            assertThat(ruleLines(v4)).containsExactly("-A OUTPUT -d 10.99.0.1/32 -j ACCEPT");
            assertThat(ns.exec("ip", "-4", "rule") + ns.exec("ip", "-6", "rule"))
                    .doesNotContain("32764")
                    .contains("fwmark 0x7 lookup 200");
            assertThat(ns.exec("ip", "-4", "route", "show", "table", "all")).doesNotContain("table 100");
            assertThat(ns.exec("ip", "-6", "route", "show", "table", "all")).doesNotContain("table 100");

            redirector.remove(netns, POD); // already gone: not an error
            assertThat(save(ns, "iptables-save")).isEqualTo(v4);
        }
    }

    @Test
    void ipv6IsSkippedWhenTheNamespaceHasItDisabledOrTheSettingIsOff() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            IptablesRedirector redirector = new IptablesRedirector();
            redirector.apply(netns, POD, InpodRuleSet.of(DEFAULTS.withIpv6(false)));
            assertThat(save(ns, "ip6tables-save")).doesNotContain("ISTIO");
            assertThat(ns.exec("ip", "-6", "rule")).doesNotContain("32764");
            assertThat(save(ns, "iptables-save")).contains("ISTIO_OUTPUT");

            // Turning IPv6 on adds the v6 part; disabling IPv6 in the namespace skips it again.
            redirector.apply(netns, POD, InpodRuleSet.of(DEFAULTS));
            assertThat(save(ns, "ip6tables-save")).contains("ISTIO_OUTPUT");
            redirector.remove(netns, POD);
            ns.exec("sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/lo/disable_ipv6");
            ns.exec("sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6");
            assertThat(NetnsFamilies.hasIpv6(netns)).isFalse();
            redirector.apply(netns, POD, InpodRuleSet.of(DEFAULTS));
            assertThat(save(ns, "ip6tables-save")).doesNotContain("ISTIO");
            assertThat(save(ns, "iptables-save")).contains("ISTIO_OUTPUT");
        }
    }

    @Test
    void nftApplyBuildsTheThreeInetTablesIdempotentlyAndRemoveDeletesThem() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            NftRedirector redirector = new NftRedirector();
            InpodRuleSet rules = InpodRuleSet.of(DEFAULTS.withDnsCapture(true));
            redirector.apply(netns, POD, rules);
            String ruleset = ns.exec("nft", "-s", "list", "ruleset");
            assertThat(ns.exec("nft", "list", "tables").lines().toList())
                    .containsExactly(
                            "table inet istio-ambient-nat",
                            "table inet istio-ambient-mangle",
                            "table inet istio-ambient-raw");
            assertThat(ruleset)
                    .contains("redirect to :15001", "redirect to :15006", "redirect to :15053")
                    .contains("ip6 daddr != ::1")
                    .contains("ct zone set 1");
            assertThat(ns.exec("ip", "-4", "rule")).contains("fwmark 0x111/0xfff lookup 100");
            assertThat(redirector.drift(netns, POD, rules)).isEmpty();

            redirector.apply(netns, POD, rules);
            assertThat(ns.exec("nft", "-s", "list", "ruleset")).isEqualTo(ruleset);

            // DNS capture off: the raw table goes away in the same transaction.
            redirector.apply(netns, POD, InpodRuleSet.of(DEFAULTS));
            assertThat(ns.exec("nft", "list", "tables")).doesNotContain("istio-ambient-raw");

            ns.exec("nft", "delete", "table", "inet", "istio-ambient-mangle");
            assertThat(redirector.drift(netns, POD, InpodRuleSet.of(DEFAULTS))).isNotEmpty();

            redirector.remove(netns, POD);
            assertThat(ns.exec("nft", "list", "ruleset")).isBlank();
            assertThat(ns.exec("ip", "-4", "rule")).doesNotContain("32764");
            redirector.remove(netns, POD); // nothing left: still fine
        }
    }

    @Test
    void hostProbeSnatManagesItsChainAndTheProbeSetByPodUid() throws Exception {
        try (TestNetns host = TestNetns.create();
                PodNetns netns = PodNetns.open(host.path())) {
            HostProbeSnat snat = new HostProbeSnat(CommandRunner.in(netns), DEFAULTS, Duration.ofSeconds(10));
            snat.install();
            snat.install();
            List<String> v4 = ruleLines(save(host, "iptables-save"));
            assertThat(v4)
                    .containsExactly(
                            "-A POSTROUTING -j ISTIO_POSTRT",
                            "-A ISTIO_POSTRT -p tcp -m owner --socket-exists -m set --match-set istio-inpod-probes-v4 dst -j SNAT --to-source 169.254.7.127");
            assertThat(ruleLines(save(host, "ip6tables-save")))
                    .contains(
                            "-A ISTIO_POSTRT -p tcp -m owner --socket-exists -m set --match-set istio-inpod-probes-v6 dst -j SNAT --to-source fd16:9254:7127:1337:ffff:ffff:ffff:ffff");

            var ipA = InetAddress.ofLiteral("10.80.0.5");
            var ipA6 = InetAddress.ofLiteral("fd00:80::5");
            var ipB = InetAddress.ofLiteral("10.80.0.6");
            snat.addPod("uid-a", List.of(ipA, ipA6));
            snat.addPod("uid-b", List.of(ipB));
            assertThat(snat.list(IpFamily.V4)).contains(Map.of("10.80.0.5", "uid-a", "10.80.0.6", "uid-b"));
            assertThat(snat.list(IpFamily.V6)).contains(Map.of("fd00:80::5", "uid-a"));

            // B's IP now belongs to pod C: removing B must not remove C's entry.
            snat.addPod("uid-c", List.of(ipB));
            snat.removePod("uid-b", List.of(ipB));
            snat.removePod("uid-a", List.of(ipA, ipA6));
            assertThat(snat.list(IpFamily.V4)).contains(Map.of("10.80.0.6", "uid-c"));
            assertThat(snat.list(IpFamily.V6)).contains(Map.of());

            snat.uninstall();
            assertThat(save(host, "iptables-save") + save(host, "ip6tables-save"))
                    .doesNotContain("ISTIO");
            assertThat(snat.list(IpFamily.V4)).isEmpty();
            snat.uninstall();
        }
    }

    @Test
    void failuresNameThePodTheCommandItsExitCodeAndStderr() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            // An interface name longer than IFNAMSIZ gets past Java (PodOverrides would refuse it) but
            // not past iptables-restore.
            InpodRuleSet bad = new InpodRuleSet(
                    false,
                    false,
                    List.of("averyveryverylonginterfacename"),
                    false,
                    DEFAULTS.probeSnatV4(),
                    DEFAULTS.probeSnatV6());
            assertThatThrownBy(() -> new IptablesRedirector().apply(netns, "demo/web", bad))
                    .isInstanceOf(RedirectException.class)
                    .hasMessageStartingWith("pod demo/web: applying iptables rules (V4) failed: ")
                    .hasMessageContaining("\"iptables-restore --noflush\" in netns " + netns.id())
                    .hasMessageMatching("(?s).* exited [1-9][0-9]*: .*averyveryverylonginterfacename.*")
                    .cause()
                    .isInstanceOf(CommandException.class);
            // iptables-restore commits table by table: mangle went in, the failing nat table did not
            // change at all. The agent retries, and remove cleans up either way.
            String after = save(ns, "iptables-save");
            assertThat(after.contains("*nat") ? after.substring(after.indexOf("*nat")) : "")
                    .doesNotContain("ISTIO");
            new IptablesRedirector().remove(netns, "demo/web");
            assertThat(save(ns, "iptables-save")).doesNotContain("ISTIO");
        }
    }

    @Test
    void aCommandsExitCodeAndStderrAreReported() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            assertThatThrownBy(() -> CommandRunner.in(netns)
                            .run(List.of("sh", "-c", "echo boom >&2; exit 3"), Duration.ofSeconds(5))
                            .orThrow())
                    .isInstanceOf(CommandException.class)
                    .hasMessage("\"sh -c echo boom >&2; exit 3\" in netns " + netns.id() + " exited 3: boom")
                    .satisfies(
                            e -> assertThat(((CommandException) e).exitCode()).isEqualTo(3));
        }
    }

    @Test
    void aCommandThatHangsIsKilledAtItsTimeout() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            long start = System.nanoTime();
            assertThatThrownBy(() -> CommandRunner.in(netns).run(List.of("sleep", "30"), Duration.ofMillis(300)))
                    .isInstanceOf(CommandException.class)
                    .hasMessageContaining("\"sleep 30\" in netns")
                    .hasMessageContaining("did not finish within PT0.3S and was killed");
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
        }
    }
}
