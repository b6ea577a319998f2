package io.ztunnel.cni.rules;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The iptables-restore input for each configuration equals the hand-written golden text. */
class IptablesRulesTest {
    private static final RedirectSettings DEFAULTS = RedirectSettings.defaults().withDnsCapture(false);

    @Test
    void withoutDnsCaptureOnlyTcpIsCaptured() {
        assertThat(IptablesRules.restoreInput(InpodRuleSet.of(DEFAULTS), IpFamily.V4))
                .isEqualTo(Goldens.read("iptables-default-v4.golden"));
    }

    @Test
    void dnsCaptureIsOnByDefaultAsInIstioCni() {
        assertThat(RedirectSettings.defaults().dnsCapture()).isTrue();
        assertThat(IptablesRules.restoreInput(InpodRuleSet.of(RedirectSettings.defaults()), IpFamily.V4))
                .isEqualTo(Goldens.read("iptables-dns-v4.golden"));
        assertThat(IptablesRules.restoreInput(InpodRuleSet.of(DEFAULTS), IpFamily.V4))
                .doesNotContain("15053")
                .doesNotContain("* raw");
    }

    @Test
    void dnsCaptureAddsTheDnsRedirectsAndTheRawTable() {
        assertThat(IptablesRules.restoreInput(InpodRuleSet.of(DEFAULTS.withDnsCapture(true)), IpFamily.V4))
                .isEqualTo(Goldens.read("iptables-dns-v4.golden"));
    }

    @Test
    void ipv6UsesTheV6LoopbackAndProbeAddress() {
        assertThat(IptablesRules.restoreInput(InpodRuleSet.of(DEFAULTS), IpFamily.V6))
                .isEqualTo(Goldens.read("iptables-default-v6.golden"));
        assertThat(IptablesRules.restoreInput(InpodRuleSet.of(DEFAULTS.withDnsCapture(true)), IpFamily.V6))
                .isEqualTo(Goldens.read("iptables-dns-v6.golden"));
    }

    @Test
    void ingressModeLeavesInboundUncaptured() {
        PodOverrides ingress = PodOverrides.fromAnnotations(Map.of(PodOverrides.BYPASS_INBOUND_CAPTURE, "true"));
        assertThat(ingress.ingressMode()).isTrue();
        assertThat(IptablesRules.restoreInput(InpodRuleSet.resolve(DEFAULTS, ingress), IpFamily.V4))
                .isEqualTo(Goldens.read("iptables-ingress-v4.golden"));
    }

    @Test
    void virtualInterfacesAreTreatedAsOutboundBeforeAnyOtherInboundRule() {
        PodOverrides virt =
                PodOverrides.fromAnnotations(Map.of(PodOverrides.REROUTE_VIRTUAL_INTERFACES, " tap0, veth9 ,"));
        assertThat(virt.virtualInterfaces()).containsExactly("tap0", "veth9");
        assertThat(IptablesRules.restoreInput(InpodRuleSet.resolve(DEFAULTS, virt), IpFamily.V4))
                .isEqualTo(Goldens.read("iptables-virtual-interfaces-v4.golden"));
    }

    @Test
    void podDnsAnnotationOverridesTheNodeSetting() {
        PodOverrides on = PodOverrides.fromAnnotations(Map.of(PodOverrides.DNS_CAPTURE, "true"));
        PodOverrides off = PodOverrides.fromAnnotations(Map.of(PodOverrides.DNS_CAPTURE, "false"));
        PodOverrides junk = PodOverrides.fromAnnotations(Map.of(PodOverrides.DNS_CAPTURE, "maybe"));
        assertThat(InpodRuleSet.resolve(DEFAULTS, on).dnsCapture()).isTrue();
        assertThat(InpodRuleSet.resolve(DEFAULTS.withDnsCapture(true), off).dnsCapture())
                .isFalse();
        assertThat(junk.dnsCapture()).isEqualTo(Optional.empty());
    }

    @Test
    void rejectsAnInterfaceNameThatCouldInjectRuleText() {
        assertThatThrownBy(() ->
                        PodOverrides.fromAnnotations(Map.of(PodOverrides.REROUTE_VIRTUAL_INTERFACES, "eth0 -j ACCEPT")))
                .hasMessageContaining("invalid interface name 'eth0 -j ACCEPT'");
    }

    @Test
    void hostProbeRulesMatchIstioForBothFamilies() {
        assertThat(HostProbeSnat.restoreInput(IpFamily.V4, RedirectSettings.DEFAULT_PROBE_SNAT_V4))
                .isEqualTo(Goldens.read("hostprobe-v4.golden"));
        assertThat(HostProbeSnat.restoreInput(IpFamily.V6, RedirectSettings.DEFAULT_PROBE_SNAT_V6))
                .isEqualTo(Goldens.read("hostprobe-v6.golden"));
    }

    @Test
    void everyRuleLivesInOurChainsOrJumpsIntoThem() {
        for (IptablesTable t : IptablesRules.tables(InpodRuleSet.of(DEFAULTS.withDnsCapture(true)), IpFamily.V4)) {
            for (IptablesRule r : t.rules()) {
                assertThat(IptablesRules.OWNED_CHAINS.contains(r.chain())
                                || IptablesRules.OWNED_CHAINS.contains(r.target()))
                        .as(r.toString())
                        .isTrue();
            }
            assertThat(t.chains()).allMatch(IptablesRules.OWNED_CHAINS::contains);
        }
        assertThat(List.copyOf(IptablesRules.TABLES)).containsExactly("mangle", "nat", "raw");
    }
}
