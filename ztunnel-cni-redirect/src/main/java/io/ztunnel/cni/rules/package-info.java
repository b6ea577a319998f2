/**
 * The in-pod traffic redirection of Istio's ambient mode, wire-compatible with istio-cni: the
 * iptables ({@link io.ztunnel.cni.rules.IptablesRedirector}) or native nftables ({@link
 * io.ztunnel.cni.rules.NftRedirector}) rules that send a pod's TCP to the daemon's listeners on
 * 15001/15006, the policy routing that returns replies to spoofed-source connections ({@link
 * io.ztunnel.cni.rules.PolicyRouting}), and the host-side kubelet probe SNAT ({@link
 * io.ztunnel.cni.rules.HostProbeSnat}). Rendering is pure ({@link io.ztunnel.cni.rules.IptablesRules},
 * {@link io.ztunnel.cni.rules.NftRules}); applying runs the tools inside the pod's namespace.
 */
@NullMarked
package io.ztunnel.cni.rules;

import org.jspecify.annotations.NullMarked;
