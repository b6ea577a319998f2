/**
 * The Linux primitives in-pod mode needs, and the only native code of the project: network namespaces ({@link
 * PodNetns}), Netty channels created inside them ({@link NetnsChannelFactory}), socket options ({@link SocketOptions}:
 * SO_MARK, IP_TRANSPARENT, IP_FREEBIND, SO_ORIGINAL_DST), SOCK_SEQPACKET with fd passing ({@link SeqpacketSocket}) and
 * the start-up {@link Capabilities} check. Calls go through the JDK's Foreign Function &amp; Memory API (run the JVM
 * with {@code --enable-native-access=ALL-UNNAMED}); Linux x86_64 and aarch64 only.
 */
@NullMarked
package io.ztunnel.cni.linux;

import org.jspecify.annotations.NullMarked;
