/**
 * ZDS, the protocol between the istio-cni node agent and ztunnel, wire-compatible with both: {@link ZdsClient} (the
 * daemon's end, driving a {@link ZdsWorkloadHandler}) and {@link ZdsServer} (the node agent's end). The messages are
 * generated from {@code src/main/proto/zds.proto} into {@code io.ztunnel.cni.zds.proto}.
 */
@NullMarked
package io.ztunnel.cni.zds;

import org.jspecify.annotations.NullMarked;
