package io.ztunnel.cni.agent.enrollment;

import java.util.Map;
import java.util.Objects;

/**
 * A namespace as far as enrollment cares: its name and labels. Immutable.
 *
 * @param name the namespace name
 * @param labels its labels
 */
public record Namespace(String name, Map<String, String> labels) {
    public Namespace {
        Objects.requireNonNull(name, "name");
        labels = Map.copyOf(labels);
    }
}
