package io.ztunnel.cni.rules;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** The nft script for each configuration equals the hand-written golden text. */
class NftRulesTest {
    private static final RedirectSettings DEFAULTS = RedirectSettings.defaults().withDnsCapture(false);

    @Test
    void withoutDnsCaptureTheScriptRecreatesNatAndMangleAndDropsRaw() {
        assertThat(NftRules.script(InpodRuleSet.of(DEFAULTS), false)).isEqualTo(Goldens.read("nft-default.golden"));
    }

    @Test
    void dnsCaptureWithIpv6AddsIp6RulesAndTheRawTable() {
        assertThat(NftRules.script(InpodRuleSet.of(DEFAULTS.withDnsCapture(true)), true))
                .isEqualTo(Goldens.read("nft-dns-ipv6.golden"));
    }

    @Test
    void ingressModeHasNoInboundRules() {
        InpodRuleSet ingress = InpodRuleSet.resolve(
                DEFAULTS, PodOverrides.fromAnnotations(Map.of(PodOverrides.BYPASS_INBOUND_CAPTURE, "true")));
        assertThat(NftRules.script(ingress, false)).isEqualTo(Goldens.read("nft-ingress.golden"));
    }

    @Test
    void withoutIpv6NoRuleMentionsIp6() {
        assertThat(NftRules.script(InpodRuleSet.of(DEFAULTS.withDnsCapture(true)), false))
                .doesNotContain("ip6 ")
                .doesNotContain("::1");
    }

    @Test
    void deleteScriptAddsThenDeletesEachTableSoItNeverFailsOnAMissingOne() {
        assertThat(NftRules.deleteScript()).isEqualTo("""
            add table inet istio-ambient-nat
            delete table inet istio-ambient-nat
            add table inet istio-ambient-mangle
            delete table inet istio-ambient-mangle
            add table inet istio-ambient-raw
            delete table inet istio-ambient-raw
            """);
    }
}
