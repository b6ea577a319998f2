package io.ztunnel.cni.rules;

import io.ztunnel.cni.linux.PodNetns;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * Which address families a pod's namespace has. IPv6 counts as present unless the kernel has no
 * IPv6 at all or {@code net.ipv6.conf.lo.disable_ipv6} is 1 in that namespace (istio-cni's test for
 * the v6 loopback route). Stateless.
 */
final class NetnsFamilies {
    private static final Path LO_DISABLE_IPV6 = Path.of("/proc/sys/net/ipv6/conf/lo/disable_ipv6");

    private NetnsFamilies() {}

    /**
     * Reads the sysctl on the namespace's own thread: {@code /proc/sys/net} shows the network
     * namespace of the thread that opens it, so this reads the pod's value, not ours.
     */
    static boolean hasIpv6(PodNetns netns) throws IOException {
        return netns.call(() -> {
            try {
                return Files.readString(LO_DISABLE_IPV6).strip().equals("0");
            } catch (NoSuchFileException e) {
                return false; // no IPv6 in this kernel
            }
        });
    }

    /** The families to program: IPv4, plus IPv6 when wanted and present. */
    static List<IpFamily> wanted(PodNetns netns, boolean ipv6Wanted) throws IOException {
        return ipv6Wanted && hasIpv6(netns) ? List.of(IpFamily.V4, IpFamily.V6) : List.of(IpFamily.V4);
    }

    /** The families whose state we may have to clean: IPv4, plus IPv6 when present. */
    static List<IpFamily> present(PodNetns netns) throws IOException {
        return hasIpv6(netns) ? List.of(IpFamily.V4, IpFamily.V6) : List.of(IpFamily.V4);
    }
}
