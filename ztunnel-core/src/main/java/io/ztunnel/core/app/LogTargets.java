package io.ztunnel.core.app;

import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The names our loggers go by in Istio ztunnel's logs and {@code RUST_LOG}: each Java logger (a class or package, or one
 * of the named loggers {@code access}, {@code authorization}, {@code dns}) is given the tracing target of the upstream
 * module doing the same job, e.g. {@code io.ztunnel.core.proxy.Outbound} is {@code ztunnel::proxy::outbound}. The
 * longest mapped prefix of the Java name decides (a class entry beats its package's). Loggers outside our code (Netty,
 * gRPC) keep their Java names. Thread-safe; results are cached.
 */
public final class LogTargets {
    /** Java name (class, package or named logger) to upstream target. */
    private static final Map<String, String> TABLE = Map.ofEntries(
            Map.entry("access", "access"),
            Map.entry("dns", "dns"),
            Map.entry("authorization", "ztunnel::state"),
            Map.entry("io.ztunnel.core.state", "ztunnel::state"),
            Map.entry("io.ztunnel.core.routing", "ztunnel::state"),
            Map.entry("io.ztunnel.core.rbac", "ztunnel::state"),
            Map.entry("io.ztunnel.core.proxy", "ztunnel::proxy"),
            Map.entry("io.ztunnel.core.proxy.Inbound", "ztunnel::proxy::inbound"),
            Map.entry("io.ztunnel.core.proxy.Outbound", "ztunnel::proxy::outbound"),
            Map.entry("io.ztunnel.core.proxy.Socks5Handler", "ztunnel::proxy::socks5"),
            Map.entry("io.ztunnel.core.proxy.Relay", "ztunnel::copy"),
            Map.entry("io.ztunnel.core.net", "ztunnel::proxy"),
            Map.entry("io.ztunnel.core.net.Relay", "ztunnel::copy"),
            Map.entry("io.ztunnel.core.hbone", "ztunnel::proxy::h2"),
            Map.entry("io.ztunnel.core.hbone.HbonePool", "ztunnel::proxy::pool"),
            Map.entry("io.ztunnel.core.hbone.HboneServer", "ztunnel::proxy::h2::server"),
            Map.entry("io.ztunnel.core.hbone.ConnectStreamHandler", "ztunnel::proxy::h2::server"),
            Map.entry("io.ztunnel.core.hbone.StreamByteAdapter", "ztunnel::copy"),
            Map.entry("io.ztunnel.core.telemetry", "ztunnel::proxy::metrics"),
            Map.entry("io.ztunnel.core.control", "ztunnel::xds"),
            Map.entry("io.ztunnel.xds", "ztunnel::xds"),
            Map.entry("io.ztunnel.xds.ads", "ztunnel::xds::client"),
            Map.entry("io.ztunnel.xds.ca", "ztunnel::identity::caclient"),
            Map.entry("io.ztunnel.core.identity", "ztunnel::identity"),
            Map.entry("io.ztunnel.core.identity.CertificateManager", "ztunnel::identity::manager"),
            Map.entry("io.ztunnel.core.identity.IstiodCa", "ztunnel::identity::caclient"),
            Map.entry("io.ztunnel.core.inpod", "ztunnel::inpod"),
            Map.entry("io.ztunnel.cni.zds", "ztunnel::inpod"),
            Map.entry("io.ztunnel.cni.linux", "ztunnel::socket"),
            Map.entry("io.ztunnel.core.dns", "ztunnel::dns"),
            Map.entry("io.ztunnel.core.app", "ztunnel::app"),
            Map.entry("io.ztunnel.core.app.LogConfig", "ztunnel::telemetry"),
            Map.entry("io.ztunnel.core.config", "ztunnel::config"),
            Map.entry("io.ztunnel.core.admin", "ztunnel::admin"),
            Map.entry("io.ztunnel.core.admin.Readiness", "ztunnel::readiness"),
            Map.entry("io.ztunnel.core.util", "ztunnel::util"),
            Map.entry("io.ztunnel.metrics", "ztunnel::metrics"),
            Map.entry("io.ztunnel.metrics.server", "ztunnel::metrics::server"),
            Map.entry("io.ztunnel.metrics.TrafficMetrics", "ztunnel::proxy::metrics"));

    /** Longest first, so the first prefix that matches is the most specific. */
    /** The table's entries, longest logger prefix first. */
    private static final List<Map.Entry<String, String>> PREFIXES = TABLE.entrySet().stream()
            .sorted(Comparator.comparingInt(
                            (Map.Entry<String, String> e) -> e.getKey().length())
                    .reversed())
            .toList();

    private static final Map<String, String> CACHE = new ConcurrentHashMap<>();

    private LogTargets() {}

    /** The upstream target of Java logger {@code loggerName} (e.g. {@code ztunnel::proxy::inbound}), or the name. */
    public static String target(String loggerName) {
        return CACHE.computeIfAbsent(loggerName, LogTargets::lookup);
    }

    /** Whether the logger belongs to our code (it has an upstream target), rather than to a library. */
    public static boolean ours(String loggerName) {
        return !target(loggerName).equals(loggerName) || TABLE.containsKey(loggerName);
    }

    /** The target as the plain format prints it: without the {@code ztunnel::} prefix. */
    public static String shortTarget(String target) {
        return target.startsWith("ztunnel::") ? target.substring("ztunnel::".length()) : target;
    }

    private static String lookup(String name) {
        for (Map.Entry<String, String> entry : PREFIXES) {
            String prefix = entry.getKey();
            if (name.equals(prefix)
                    || (name.startsWith(prefix)
                            && (name.charAt(prefix.length()) == '.' || name.charAt(prefix.length()) == '$'))) {
                return entry.getValue();
            }
        }
        return name;
    }
}
