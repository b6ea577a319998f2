package io.ztunnel.cni.rules;

import io.ztunnel.cni.ErrorText;
import java.io.IOException;

/**
 * Programming or removing a pod's redirection failed. The message names the pod, the step, and
 * (through the cause, usually a {@link io.ztunnel.cni.exec.CommandException}) the command, its exit
 * code and its stderr, e.g. {@code pod demo/web: applying iptables rules (IPv4) failed:
 * "iptables-restore --noflush" in netns net:[4026532]@4 exited 2: iptables-restore v1.8.9: ...}.
 * Immutable.
 */
public final class RedirectException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String pod;

    public RedirectException(String pod, String step, Throwable cause) {
        super("pod " + pod + ": " + step + " failed: " + ErrorText.of(cause), cause);
        this.pod = pod;
    }

    /** The pod, as {@code namespace/name}. */
    public String pod() {
        return pod;
    }
}
