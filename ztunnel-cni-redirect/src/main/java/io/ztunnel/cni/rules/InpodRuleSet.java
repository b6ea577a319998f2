package io.ztunnel.cni.rules;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.util.List;
import java.util.Objects;

/**
 * Everything that decides the rules of one pod: the node settings resolved against the pod's
 * overrides. Two pods with equal rule sets get identical rules; the agent re-applies a pod's rules
 * when its rule set changes. Immutable.
 *
 * @param dnsCapture DNS redirection to 15053 and the raw-table CT zone rules
 * @param ingressMode no inbound capture
 * @param virtualInterfaces interfaces whose inbound TCP goes to 15001
 * @param ipv6 program IPv6 too (if the pod's namespace has IPv6)
 * @param probeSnatV4 the IPv4 kubelet probe source, exempt from capture
 * @param probeSnatV6 the IPv6 kubelet probe source, exempt from capture
 */
public record InpodRuleSet(
        boolean dnsCapture,
        boolean ingressMode,
        List<String> virtualInterfaces,
        boolean ipv6,
        Inet4Address probeSnatV4,
        Inet6Address probeSnatV6) {
    public InpodRuleSet {
        virtualInterfaces = List.copyOf(virtualInterfaces);
        Objects.requireNonNull(probeSnatV4, "probeSnatV4");
        Objects.requireNonNull(probeSnatV6, "probeSnatV6");
    }

    /** The node settings with the pod's annotations applied. */
    public static InpodRuleSet resolve(RedirectSettings settings, PodOverrides pod) {
        return new InpodRuleSet(
                pod.dnsCapture().orElse(settings.dnsCapture()),
                pod.ingressMode(),
                pod.virtualInterfaces(),
                settings.ipv6(),
                settings.probeSnatV4(),
                settings.probeSnatV6());
    }

    /** The rule set of a pod without annotations. */
    public static InpodRuleSet of(RedirectSettings settings) {
        return resolve(settings, PodOverrides.NONE);
    }
}
