package io.ztunnel.cni.rules;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.Objects;

/**
 * Node-wide redirection settings, the same for every pod (per-pod exceptions are {@link
 * PodOverrides}). Immutable.
 *
 * @param dnsCapture redirect the pod's DNS (UDP and TCP port 53) to the daemon's DNS proxy on 15053,
 *     with the raw-table conntrack zone rules (agent env {@code AMBIENT_DNS_CAPTURE}, default true as in
 *     istio-cni); the daemon's own queries carry its mark and are not captured
 * @param ipv6 also program the IPv6 rules ({@code ip6tables}, {@code ip6} nft rules, the v6 ip rule
 *     and route) in pods whose namespace has IPv6 (agent env {@code AMBIENT_IPV6}, default true)
 * @param nativeNftables use one {@code nft} transaction on {@code inet} tables instead of {@code
 *     iptables-restore} (agent env {@code NATIVE_NFTABLES}, default false)
 * @param probeSnatV4 the address the host SNATs kubelet probes to; exempt from capture ({@code
 *     HOST_PROBE_SNAT_IP}, default 169.254.7.127)
 * @param probeSnatV6 the IPv6 equivalent ({@code HOST_PROBE_SNAT_IPV6}, default
 *     fd16:9254:7127:1337:ffff:ffff:ffff:ffff)
 */
public record RedirectSettings(
        boolean dnsCapture, boolean ipv6, boolean nativeNftables, Inet4Address probeSnatV4, Inet6Address probeSnatV6) {

    /** Istio's default kubelet probe SNAT address. */
    public static final Inet4Address DEFAULT_PROBE_SNAT_V4 = (Inet4Address) InetAddress.ofLiteral("169.254.7.127");

    /** Istio's default IPv6 kubelet probe SNAT address. */
    public static final Inet6Address DEFAULT_PROBE_SNAT_V6 =
            (Inet6Address) InetAddress.ofLiteral("fd16:9254:7127:1337:ffff:ffff:ffff:ffff");

    public RedirectSettings {
        Objects.requireNonNull(probeSnatV4, "probeSnatV4");
        Objects.requireNonNull(probeSnatV6, "probeSnatV6");
    }

    /** istio-cni's defaults: DNS capture on, IPv6 on, iptables, Istio's probe addresses. */
    public static RedirectSettings defaults() {
        return new RedirectSettings(true, true, false, DEFAULT_PROBE_SNAT_V4, DEFAULT_PROBE_SNAT_V6);
    }

    public RedirectSettings withDnsCapture(boolean on) {
        return new RedirectSettings(on, ipv6, nativeNftables, probeSnatV4, probeSnatV6);
    }

    public RedirectSettings withIpv6(boolean on) {
        return new RedirectSettings(dnsCapture, on, nativeNftables, probeSnatV4, probeSnatV6);
    }

    public RedirectSettings withNativeNftables(boolean on) {
        return new RedirectSettings(dnsCapture, ipv6, on, probeSnatV4, probeSnatV6);
    }
}
