package io.ztunnel.cni.rules;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Per-pod exceptions to the node-wide {@link RedirectSettings}, read from the pod's annotations as
 * istio-cni reads them. Immutable.
 *
 * @param ingressMode {@code ambient.istio.io/bypass-inbound-capture: "true"}: outbound capture only,
 *     no inbound redirection (and no connmark for spoofed inbound connections)
 * @param dnsCapture {@code ambient.istio.io/dns-capture: "true"|"false"} overriding the node
 *     setting; empty when unset
 * @param virtualInterfaces {@code istio.io/reroute-virtual-interfaces: "a,b"}: inbound TCP arriving
 *     on these interfaces is treated as outbound (sent to 15001)
 */
public record PodOverrides(boolean ingressMode, Optional<Boolean> dnsCapture, List<String> virtualInterfaces) {
    public static final String BYPASS_INBOUND_CAPTURE = "ambient.istio.io/bypass-inbound-capture";
    public static final String DNS_CAPTURE = "ambient.istio.io/dns-capture";
    public static final String REROUTE_VIRTUAL_INTERFACES = "istio.io/reroute-virtual-interfaces";

    /** Linux interface names: at most 15 bytes, no whitespace, '/' or ':'; we allow a safe subset. */
    private static final Pattern INTERFACE = Pattern.compile("[A-Za-z0-9_.@-]{1,15}");

    public static final PodOverrides NONE = new PodOverrides(false, Optional.empty(), List.of());

    public PodOverrides {
        Objects.requireNonNull(dnsCapture, "dnsCapture");
        virtualInterfaces = List.copyOf(virtualInterfaces);
        for (String name : virtualInterfaces) {
            if (!INTERFACE.matcher(name).matches()) {
                throw new IllegalArgumentException(
                        "invalid interface name '" + name + "' in " + REROUTE_VIRTUAL_INTERFACES);
            }
        }
    }

    /**
     * Reads the three annotations. Values other than "true"/"false" for the boolean ones count as
     * unset (bypass: false), as in istio-cni.
     *
     * @throws IllegalArgumentException for an interface name that cannot be a Linux interface
     */
    public static PodOverrides fromAnnotations(Map<String, String> annotations) {
        boolean ingress = "true".equalsIgnoreCase(annotations.getOrDefault(BYPASS_INBOUND_CAPTURE, ""));
        String dns = annotations.getOrDefault(DNS_CAPTURE, "");
        Optional<Boolean> dnsOverride = dns.equalsIgnoreCase("true")
                ? Optional.of(true)
                : dns.equalsIgnoreCase("false") ? Optional.of(false) : Optional.empty();
        List<String> interfaces = new ArrayList<>();
        for (String part :
                annotations.getOrDefault(REROUTE_VIRTUAL_INTERFACES, "").split(",")) {
            String name = part.strip();
            if (!name.isEmpty()) {
                interfaces.add(name);
            }
        }
        return new PodOverrides(ingress, dnsOverride, interfaces);
    }
}
