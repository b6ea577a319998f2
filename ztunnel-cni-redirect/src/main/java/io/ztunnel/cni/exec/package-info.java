/**
 * Running external tools ({@code iptables-restore}, {@code nft}, {@code ip}, {@code ipset}) with a timeout and captured
 * output, either in the agent's own network namespace or inside a pod's ({@link CommandRunner}).
 */
@NullMarked
package io.ztunnel.cni.exec;

import org.jspecify.annotations.NullMarked;
