package io.ztunnel.cni.rules;

import io.ztunnel.cni.linux.PodNetns;
import java.util.List;

/**
 * Programs a pod's traffic redirection inside its network namespace: the rules (iptables or native
 * nftables) plus the policy routing. Implementations are {@link IptablesRedirector} and {@link
 * NftRedirector}; {@link #create} picks one from the settings.
 *
 * <p>Every method takes the pod's namespace as an open {@link PodNetns} (still owned by the caller)
 * and the pod's name for error messages. Implementations are thread-safe, but callers should not
 * program one pod from two threads at once (the agent's single reconcile thread does not).
 */
public interface InpodRedirector {
    /**
     * Makes the pod's namespace hold exactly the rules of {@code rules} (idempotent: applying the
     * same rule set twice changes nothing the second time). Each table changes atomically (traffic
     * sees its old or its new rules, never a mix); if a later table fails, earlier ones stay
     * changed, and the next apply (or remove) finishes the job.
     *
     * @return true if anything was changed
     * @throws RedirectException naming the pod, the command, its exit code and stderr
     */
    boolean apply(PodNetns netns, String pod, InpodRuleSet rules) throws RedirectException;

    /**
     * Stops capturing new connections: the jumps from the built-in chains (or base chains) into the
     * pod's chains go, the pod's chains and the policy routing stay until {@link #remove}. In between,
     * the connections captured so far are still tracked and translated by the kernel, so the daemon
     * can close them and the app sees the close (with no NAT rule left in the namespace the kernel
     * may stop tracking connections there, and a close from the daemon's redirected socket no longer
     * reaches the app). What is already gone is ignored.
     *
     * @throws RedirectException naming the pod, the command, its exit code and stderr
     */
    void stopCapture(PodNetns netns, String pod) throws RedirectException;

    /**
     * Removes everything {@link #apply} added (chains, jumps, tables, the ip rule and route). What is
     * already gone is ignored.
     *
     * @throws RedirectException naming the pod, the command, its exit code and stderr
     */
    void remove(PodNetns netns, String pod) throws RedirectException;

    /**
     * How the pod's namespace differs from {@code rules}, one line per difference; empty when in
     * sync.
     */
    List<String> drift(PodNetns netns, String pod, InpodRuleSet rules) throws RedirectException;

    /** The redirector {@code settings} ask for: nftables when {@code nativeNftables}, else iptables. */
    static InpodRedirector create(RedirectSettings settings) {
        return settings.nativeNftables() ? new NftRedirector() : new IptablesRedirector();
    }
}
