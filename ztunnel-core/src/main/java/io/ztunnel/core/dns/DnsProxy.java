package io.ztunnel.core.dns;

import io.netty.channel.EventLoopGroup;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.DnsSettings;
import io.ztunnel.core.proxy.LocalWorkload;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.core.state.Workload;
import io.ztunnel.metrics.DnsMetrics;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's DNS proxy: what all its servers share (settings, the upstream resolvers read once from the daemon's
 * own {@code /etc/resolv.conf}, the state, metrics) and the two ways to start one server, as Istio's ztunnel does:
 * one per enrolled pod inside the pod's network namespace (shared mode), or one for the daemon's single workload
 * (dedicated mode). Off ({@link #enabled()} false, starting is a no-op) when the proxy metadata says
 * {@code DNS_CAPTURE} is not {@code true}.
 *
 * <p>Listen addresses: {@code DNS_PROXY_ADDR} as given; by default 127.0.0.1:15053 and, with {@code IPV6_ENABLED}
 * and IPv6 working on the namespace's {@code lo}, [::1]:15053. In dedicated mode with a specific
 * {@code PROXY_BIND_ADDRESS} (ztunnel-java, for several daemons on one host) and no {@code DNS_PROXY_ADDR}, that
 * address on 15053.
 *
 * <p>Thread-safe. Each returned server is owned by the caller, who closes it with the workload's proxies.
 */
public final class DnsProxy {
    private static final Logger log = LoggerFactory.getLogger(DnsProxy.class);
    private static final AutoCloseable NOTHING = () -> {};

    private final Config config;
    private final StateStore store;
    private final EventLoopGroup dataPlane;
    private final boolean epoll;
    private final DnsTelemetry telemetry;
    private final DnsForwarder forwarder;

    private DnsProxy(
            Config config,
            StateStore store,
            EventLoopGroup dataPlane,
            boolean epoll,
            DnsTelemetry telemetry,
            DnsForwarder forwarder) {
        this.config = config;
        this.store = store;
        this.dataPlane = dataPlane;
        this.epoll = epoll;
        this.telemetry = telemetry;
        this.forwarder = forwarder;
    }

    /** The proxy for {@code config}: reads the upstream resolvers when it is on (a missing file stops the start). */
    public static DnsProxy create(
            Config config, StateStore store, EventLoopGroup dataPlane, boolean epoll, DnsMetrics metrics) {
        ResolvConf upstream = config.dns().enabled() ? ResolvConf.read(ResolvConf.SYSTEM) : ResolvConf.NONE;
        if (config.dns().enabled()) {
            if (upstream.nameservers().isEmpty()) {
                log.atWarn()
                        .addKeyValue("file", ResolvConf.SYSTEM)
                        .log("no nameserver for the DNS proxy: names not known to the mesh will get SERVFAIL");
            }
            log.atInfo()
                    .addKeyValue("upstream", upstream.nameservers())
                    .addKeyValue("timeout", upstream.timeout())
                    .addKeyValue("attempts", upstream.attempts())
                    .log("DNS proxy enabled");
        }
        return new DnsProxy(config, store, dataPlane, epoll, new DnsTelemetry(metrics), new DnsForwarder(upstream));
    }

    /** The upstream resolvers' settings in use (read from {@link ResolvConf#SYSTEM} when the proxy is on). */
    public ResolvConf resolvConf() {
        return forwarder.conf();
    }

    public boolean enabled() {
        return config.dns().enabled();
    }

    /** Starts the DNS server of an enrolled pod, inside its namespace (shared mode); throws when it cannot bind. */
    public AutoCloseable startInPod(LocalWorkload local, PodNetns netns) {
        if (!enabled()) {
            return NOTHING;
        }
        DnsSockets sockets = DnsSockets.pod(netns, config.packetMark(), config.inpodPortReuse());
        return start(local, sockets, DnsResolver.podSearchDomains(config.clusterDomain()), listenAddresses(sockets));
    }

    /** Starts the DNS server of the dedicated-mode workload, in the daemon's namespace. */
    public AutoCloseable startOnHost(LocalWorkload local) {
        if (!enabled()) {
            return NOTHING;
        }
        DnsSockets sockets = DnsSockets.host(epoll, config.packetMark());
        List<String> search = forwarder.conf().search();
        InetAddress bind = config.bindAddress();
        List<InetSocketAddress> addresses = !config.dns().addressSet() && !bind.isAnyLocalAddress()
                ? List.of(new InetSocketAddress(bind, config.dns().port()))
                : listenAddresses(sockets);
        return start(local, sockets, w -> search, addresses);
    }

    private List<InetSocketAddress> listenAddresses(DnsSockets sockets) {
        DnsSettings dns = config.dns();
        if (dns.literal() != null) {
            return List.of(dns.literal());
        }
        return DnsServer.localhost(dns.port(), config.ipv6Enabled() && sockets.ipv6Loopback());
    }

    private DnsServer start(
            LocalWorkload local,
            DnsSockets sockets,
            Function<Workload, List<String>> searchDomains,
            List<InetSocketAddress> addresses) {
        DnsResolver resolver = new DnsResolver(
                config.clusterDomain(), config.ipv6Enabled(), config.preferredServiceNamespace(), searchDomains);
        DnsService service = new DnsService(resolver, forwarder, sockets, local, store, telemetry);
        return DnsServer.start(service, sockets, dataPlane, addresses);
    }
}
