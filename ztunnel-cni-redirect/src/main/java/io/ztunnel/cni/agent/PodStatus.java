package io.ztunnel.cni.agent;

import java.util.Objects;

/**
 * The redirection status of one enrolled pod, as istio-cni writes it into the pod's {@code
 * ambient.istio.io/redirection} annotation: {@code enabled} (rules in place and a daemon accepted
 * the pod), {@code pending} (rules in place, no daemon has accepted it yet; retried), or {@code
 * error} (the rules could not be applied or removed; retried). Immutable.
 *
 * @param uid the pod uid
 * @param pod {@code namespace/name}
 * @param state the state
 * @param message why it is pending or failing; empty when enabled
 */
public record PodStatus(String uid, String pod, State state, String message) {
    /** The three states. */
    public enum State {
        ENABLED("enabled"),
        PENDING("pending"),
        ERROR("error");

        private final String text;

        State(String text) {
            this.text = text;
        }

        /** The annotation value: {@code enabled}, {@code pending}, {@code error}. */
        public String text() {
            return text;
        }
    }

    public PodStatus {
        Objects.requireNonNull(uid, "uid");
        Objects.requireNonNull(pod, "pod");
        Objects.requireNonNull(state, "state");
        Objects.requireNonNull(message, "message");
    }

    /** {@code enabled}, {@code pending: <why>}, {@code error: <why>}. */
    public String describe() {
        return message.isEmpty() ? state.text() : state.text() + ": " + message;
    }
}
