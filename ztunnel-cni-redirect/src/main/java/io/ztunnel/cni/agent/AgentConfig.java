package io.ztunnel.cni.agent;

import io.ztunnel.cni.agent.enrollment.EnrollmentPolicy;
import io.ztunnel.cni.rules.RedirectSettings;
import io.ztunnel.cni.zds.ZdsClient;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The node agent's configuration, from environment variables (names follow istio-cni and ztunnel
 * where they exist). Validated when read; every error names the variable. Immutable.
 *
 * <table>
 *   <caption>Environment variables</caption>
 *   <tr><th>variable</th><th>default</th><th>meaning</th></tr>
 *   <tr><td>{@code AGENT_LOCAL_CONFIG}</td><td></td><td>local mode: the pods/namespaces YAML
 *       file (see {@link io.ztunnel.cni.agent.local.LocalConfig})</td></tr>
 *   <tr><td>{@code NODE_NAME}</td><td></td><td>Kubernetes mode (when {@code AGENT_LOCAL_CONFIG}
 *       is not set): this node's name; the agent watches the pods scheduled here</td></tr>
 *   <tr><td>{@code HOST_PROC}</td><td>{@code /host/proc}</td><td>Kubernetes mode: where the
 *       host's {@code /proc} is mounted; scanned for pod network namespaces, and {@code
 *       <HOST_PROC>/1/ns/net} is the node's namespace (host probe rules)</td></tr>
 *   <tr><td>{@code KUBE_SYNC_TIMEOUT_SECONDS}</td><td>{@code 60}</td><td>Kubernetes mode: how long
 *       the start waits for the first list of pods and namespaces</td></tr>
 *   <tr><td>{@code INPOD_UDS}</td><td>{@code /var/run/ztunnel/ztunnel.sock}</td><td>the ZDS socket
 *       the daemons connect to</td></tr>
 *   <tr><td>{@code EXCLUDE_NAMESPACES}</td><td>{@code kube-system}</td><td>comma-separated
 *       namespaces never enrolled (empty value: none)</td></tr>
 *   <tr><td>{@code AMBIENT_DNS_CAPTURE}</td><td>{@code true}</td><td>redirect DNS (UDP and TCP 53) to the
 *       daemon's DNS proxy on 15053, as istio-cni does</td></tr>
 *   <tr><td>{@code AMBIENT_IPV6}</td><td>{@code true}</td><td>program IPv6 rules too (in pods that
 *       have IPv6)</td></tr>
 *   <tr><td>{@code NATIVE_NFTABLES}</td><td>{@code false}</td><td>use nftables instead of
 *       iptables</td></tr>
 *   <tr><td>{@code HOST_PROBE_SNAT_IP}</td><td>{@code 169.254.7.127}</td><td>kubelet probe source,
 *       exempt from capture</td></tr>
 *   <tr><td>{@code HOST_PROBE_SNAT_IPV6}</td><td>{@code fd16:9254:7127:1337:ffff:ffff:ffff:ffff}
 *       </td><td>the same for IPv6</td></tr>
 *   <tr><td>{@code READINESS_PORT}</td><td>{@code 8000}</td><td>HTTP port of {@code /readyz} and
 *       {@code /status}; 0 turns the server off</td></tr>
 * </table>
 *
 * @param localConfig the local config file (local mode), else null
 * @param zdsSocket the ZDS socket path
 * @param excludedNamespaces namespaces never enrolled
 * @param redirect the redirection settings
 * @param readinessPort the status server port (0: off)
 * @param kube Kubernetes mode settings, else null
 */
public record AgentConfig(
        @Nullable Path localConfig,
        Path zdsSocket,
        Set<String> excludedNamespaces,
        RedirectSettings redirect,
        int readinessPort,
        @Nullable Kube kube) {
    /**
     * Kubernetes mode.
     *
     * @param nodeName this node ({@code NODE_NAME})
     * @param hostProc the host's {@code /proc} ({@code HOST_PROC})
     * @param syncTimeout how long to wait for the first list from the API server
     */
    public record Kube(String nodeName, Path hostProc, Duration syncTimeout) {
        public Kube {
            Objects.requireNonNull(nodeName, "nodeName");
            Objects.requireNonNull(hostProc, "hostProc");
            Objects.requireNonNull(syncTimeout, "syncTimeout");
        }
    }

    /** Local mode. */
    public AgentConfig(
            Path localConfig,
            Path zdsSocket,
            Set<String> excludedNamespaces,
            RedirectSettings redirect,
            int readinessPort) {
        this(localConfig, zdsSocket, excludedNamespaces, redirect, readinessPort, null);
    }

    public AgentConfig {
        if ((localConfig == null) == (kube == null)) {
            throw new IllegalArgumentException("exactly one of localConfig and kube must be given");
        }
        Objects.requireNonNull(zdsSocket, "zdsSocket");
        excludedNamespaces = Set.copyOf(excludedNamespaces);
        Objects.requireNonNull(redirect, "redirect");
    }

    /** Thrown for a missing or malformed variable; the message names it. */
    public static final class ConfigException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        ConfigException(String message) {
            super(message);
        }
    }

    /** Reads the configuration from {@code env} (normally {@link System#getenv()}). */
    public static AgentConfig fromEnv(Map<String, String> env) {
        String local = env.getOrDefault("AGENT_LOCAL_CONFIG", "").strip();
        String node = env.getOrDefault("NODE_NAME", "").strip();
        Kube kube = null;
        if (local.isEmpty()) {
            if (node.isEmpty()) {
                throw new ConfigException(
                        "set AGENT_LOCAL_CONFIG (local mode: the pods/namespaces YAML file) or NODE_NAME"
                                + " (Kubernetes mode: this node's name, from the downward API spec.nodeName)");
            }
            String proc = env.getOrDefault("HOST_PROC", "").strip();
            int sync = integer(env, "KUBE_SYNC_TIMEOUT_SECONDS", 60, 1, 3600);
            kube = new Kube(node, Path.of(proc.isEmpty() ? "/host/proc" : proc), Duration.ofSeconds(sync));
        }
        Set<String> excluded = new LinkedHashSet<>();
        String ex = env.get("EXCLUDE_NAMESPACES");
        if (ex == null) {
            excluded.addAll(EnrollmentPolicy.DEFAULT_EXCLUDED_NAMESPACES);
        } else {
            for (String part : ex.split(",")) {
                if (!part.isBlank()) {
                    excluded.add(part.strip());
                }
            }
        }
        RedirectSettings redirect = new RedirectSettings(
                bool(env, "AMBIENT_DNS_CAPTURE", true),
                bool(env, "AMBIENT_IPV6", true),
                bool(env, "NATIVE_NFTABLES", false),
                address(env, "HOST_PROBE_SNAT_IP", RedirectSettings.DEFAULT_PROBE_SNAT_V4, Inet4Address.class),
                address(env, "HOST_PROBE_SNAT_IPV6", RedirectSettings.DEFAULT_PROBE_SNAT_V6, Inet6Address.class));
        return new AgentConfig(
                kube == null ? Path.of(local) : null,
                Path.of(env.getOrDefault("INPOD_UDS", ZdsClient.DEFAULT_SOCKET_PATH)),
                excluded,
                redirect,
                port(env, "READINESS_PORT", 8000),
                kube);
    }

    private static int integer(Map<String, String> env, String name, int dflt, int min, int max) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            return dflt;
        }
        try {
            int n = Integer.parseInt(v.strip());
            if (n < min || n > max) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new ConfigException(name + "=\"" + v + "\" is not a whole number from " + min + " to " + max);
        }
    }

    private static boolean bool(Map<String, String> env, String name, boolean dflt) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            return dflt;
        }
        return switch (v.strip().toLowerCase(Locale.ROOT)) {
            case "true", "1", "yes", "on" -> true;
            case "false", "0", "no", "off" -> false;
            default -> throw new ConfigException(name + "=\"" + v + "\" is not a boolean (true/false)");
        };
    }

    private static int port(Map<String, String> env, String name, int dflt) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            return dflt;
        }
        try {
            int p = Integer.parseInt(v.strip());
            if (p < 0 || p > 65535) {
                throw new NumberFormatException();
            }
            return p;
        } catch (NumberFormatException e) {
            throw new ConfigException(name + "=\"" + v + "\" is not a port number (0-65535)");
        }
    }

    private static <T extends InetAddress> T address(Map<String, String> env, String name, T dflt, Class<T> family) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            return dflt;
        }
        try {
            InetAddress a = InetAddress.ofLiteral(v.strip());
            if (!family.isInstance(a)) {
                throw new IllegalArgumentException();
            }
            return family.cast(a);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(
                    name + "=\"" + v + "\" is not an " + (family == Inet4Address.class ? "IPv4" : "IPv6") + " address");
        }
    }
}
