/**
 * The node agent's local mode: pods are network namespaces, and pods, namespaces and their labels come from a YAML file
 * ({@link LocalConfig} parses it, {@link LocalFileSource} watches it).
 */
@NullMarked
package io.ztunnel.cni.agent.local;

import org.jspecify.annotations.NullMarked;
