/**
 * The in-pod traffic redirection of Istio's ambient mode, wire-compatible with istio-cni: the iptables ({@link
 * IptablesRedirector}) or native nftables ({@link NftRedirector}) rules that send a pod's TCP to the daemon's listeners
 * on 15001/15006, the policy routing that returns replies to spoofed-source connections ({@link PolicyRouting}), and
 * the host-side kubelet probe SNAT ({@link HostProbeSnat}). Rendering is pure ({@link IptablesRules},
 * {@link NftRules}); applying runs the tools inside the pod's namespace.
 */
@NullMarked
package io.ztunnel.cni.rules;

import org.jspecify.annotations.NullMarked;
