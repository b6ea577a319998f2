/**
 * Checks of what ships beside the code: the Kubernetes manifests under {@code deploy/} and the {@code Dockerfile}
 * (statically, and built where a Docker engine exists).
 */
@NullMarked
package io.ztunnel.cni.deploy;

import org.jspecify.annotations.NullMarked;
