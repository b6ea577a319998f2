package io.ztunnel.core.app;

import io.netty.channel.EventLoopGroup;
import io.ztunnel.cni.linux.Capabilities;
import io.ztunnel.cni.zds.ZdsClient;
import io.ztunnel.core.admin.AdminApi;
import io.ztunnel.core.admin.ConfigDump;
import io.ztunnel.core.admin.HttpServer;
import io.ztunnel.core.admin.Readiness;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.ConfigException;
import io.ztunnel.core.control.ControlPlane;
import io.ztunnel.core.control.ConversionException;
import io.ztunnel.core.control.LocalConfigSource;
import io.ztunnel.core.dns.DnsProxy;
import io.ztunnel.core.dns.ResolvConf;
import io.ztunnel.core.identity.CertificateAuthority;
import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.identity.CrlManager;
import io.ztunnel.core.identity.LoadingCa;
import io.ztunnel.core.inpod.InpodManager;
import io.ztunnel.core.net.Sockets;
import io.ztunnel.core.net.Transport;
import io.ztunnel.core.proxy.ConnectionTracker;
import io.ztunnel.core.proxy.Inbound;
import io.ztunnel.core.proxy.LocalWorkload;
import io.ztunnel.core.proxy.OwnInbound;
import io.ztunnel.core.proxy.ProxyContext;
import io.ztunnel.core.proxy.ProxySet;
import io.ztunnel.core.routing.InboundResolver;
import io.ztunnel.core.routing.OutboundRouter;
import io.ztunnel.core.routing.RoutingConfig;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.core.telemetry.TrafficTelemetry;
import io.ztunnel.core.util.Drain;
import io.ztunnel.core.util.Errors;
import io.ztunnel.core.util.LogValues;
import io.ztunnel.core.util.Scheduler;
import io.ztunnel.core.util.Subscription;
import io.ztunnel.metrics.CrlMetrics;
import io.ztunnel.metrics.Reporter;
import io.ztunnel.metrics.ZtunnelMetrics;
import io.ztunnel.metrics.server.MetricsServer;
import io.ztunnel.xds.local.LocalConfig;
import io.ztunnel.xds.local.LocalConfigException;
import io.ztunnel.xds.local.LocalConfigParser;
import io.ztunnel.xds.local.LocalConfigWatcher;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One running daemon: event loops, certificates, state and its sources, proxies, and the admin, readiness and
 * metrics servers; and the graceful shutdown that ends it.
 *
 * <p>Threads: a data-plane event loop group ({@code ZTUNNEL_WORKER_THREADS}) for proxied traffic, and a one-thread
 * control group for certificates, config, admin, readiness and metrics scrapes. {@link #shutdown()} may be called from
 * any thread, once.
 */
public final class Daemon implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Daemon.class);

    private final Config config;
    private final Transport transport;
    private final EventLoopGroup dataPlane;
    private final EventLoopGroup control;
    private final ScheduledExecutorService timer;
    private final StateStore store = new StateStore();
    private final Readiness readiness = new Readiness();
    private final Drain drain = new Drain();
    private final ConnectionTracker connections = new ConnectionTracker(drain);
    private final CertificateManager certificates;
    private final ZtunnelMetrics metrics;
    private final List<ProxySet> proxies = new ArrayList<>();
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final List<Subscription> subscriptions = new ArrayList<>();
    private final AtomicBoolean shuttingDown = new AtomicBoolean();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final ProxyContext context;
    private final CertificateAuthority ca;
    private final @Nullable CrlManager crl;
    private final Consumer<String> fatal;
    private @Nullable InpodManager inpod;
    private @Nullable DnsProxy dnsProxy;
    private volatile @Nullable ResolvConf systemResolvers; // for /config_dump when DNS capture is off
    private @Nullable ZdsClient zds;
    private @Nullable InetSocketAddress adminAddress;
    private @Nullable InetSocketAddress readinessAddress;
    private @Nullable InetSocketAddress metricsAddress;
    private final CompletableFuture<?> capabilities;
    private volatile @Nullable InetSocketAddress ownInboundAddress;

    private Daemon(Config config, Consumer<String> fatal, CompletableFuture<?> capabilities) {
        this.config = config;
        this.fatal = fatal;
        this.capabilities = capabilities;
        this.transport = Transport.best();
        this.dataPlane = transport.newGroup(config.workerThreads(), "ztunnel-dp");
        this.control = transport.newGroup(1, "ztunnel-control");
        this.timer = control.next();
        this.ca = ControlPlane.certificateAuthority(config, control, transport);
        this.metrics = ZtunnelMetrics.builder()
                .buildTag(config.istioVersion())
                .jvmMetrics(true)
                .workloadManagerMetrics(config.proxyMode() == Config.ProxyMode.SHARED)
                .dnsMetrics(config.dns().enabled())
                .build();
        this.crl = startCrl(config.crlPath(), metrics.crl());
        this.certificates = new CertificateManager(
                ca,
                config.secretTtl(),
                crl == null ? config.tls() : config.tls().withRevocation(crl),
                Scheduler.of(control.next(), Clock.systemUTC()),
                CertificateManager.DEFAULT_MAX_IN_FLIGHT);
        RoutingConfig routing = new RoutingConfig(
                config.network(),
                config.illegalPorts(),
                config.preferredServiceNamespace(),
                config.ports().inboundHbone());
        TrafficTelemetry telemetry = new TrafficTelemetry(metrics.traffic());
        this.context = new ProxyContext(
                config,
                transport,
                dataPlane,
                store,
                certificates,
                new OutboundRouter(routing, new SplittableRandom()),
                new InboundResolver(routing),
                connections,
                telemetry,
                drain,
                timer);
        subscriptions.add(store.subscribe((previous, next) -> Inbound.reevaluate(next, connections)));
        subscriptions.add(store.subscribe(telemetry::stateChanged));
    }

    /**
     * Revocation checks from {@code CRL_PATH}, as upstream: none when unset; a file that cannot be parsed at start is
     * an error that leaves revocation checks off for the daemon's lifetime (the daemon still starts).
     */
    private static @Nullable CrlManager startCrl(@Nullable String path, CrlMetrics metrics) {
        if (path == null) {
            return null;
        }
        try {
            return CrlManager.start(Path.of(path), new CrlManager.Events() {
                @Override
                public void rejected(boolean inbound) {
                    metrics.rejected(inbound ? Reporter.DESTINATION : Reporter.SOURCE);
                }

                @Override
                public void untracked(boolean inbound) {
                    metrics.untracked(inbound ? Reporter.DESTINATION : Reporter.SOURCE);
                }
            });
        } catch (IllegalArgumentException e) {
            log.atError()
                    .addKeyValue("path", path)
                    .addKeyValue("error", Errors.message(e))
                    .log("cannot load the CRL; certificate revocation checks are off until restart");
            return null;
        }
    }

    /** The revocation lists from {@code CRL_PATH}, when loaded. */
    public Optional<CrlManager> crl() {
        return Optional.ofNullable(crl);
    }

    /** Starts a daemon; throws (after releasing what was started) with a clear message when it cannot. */
    public static Daemon start(Config config) {
        return start(config, reason -> {
            LoggerFactory.getLogger(Daemon.class)
                    .atError()
                    .addKeyValue("reason", reason)
                    .log("fatal error; exiting");
            LogConfig.flush(); // halt runs no shutdown hook
            Runtime.getRuntime().halt(1);
        });
    }

    /** As {@link #start(Config)}, with what to do on a fatal error (the process exits by default). */
    public static Daemon start(Config config, Consumer<String> fatal) {
        Daemon daemon = new Daemon(config, fatal, checkCapabilities(config));
        try {
            daemon.startAll();
            return daemon;
        } catch (RuntimeException e) {
            daemon.close();
            throw e;
        }
    }

    /**
     * In-pod mode checks its capabilities before it serves a pod. The check is the first native call (FFM links
     * {@code setns}, {@code socket}, {@code setsockopt}: 0.1-0.3 s of a cold start), so it runs on a thread of its own
     * beside the rest of the start and {@link #awaitCapabilities} joins it before the first pod.
     */
    private static CompletableFuture<?> checkCapabilities(Config config) {
        if (config.proxyMode() != Config.ProxyMode.SHARED) {
            return CompletableFuture.completedFuture(null);
        }
        return CompletableFuture.runAsync(
                () -> Capabilities.check(config.packetMark()),
                task -> Thread.ofPlatform().name("ztunnel-start-check").daemon().start(task));
    }

    private void awaitCapabilities() {
        Errors.join(capabilities);
    }

    private void startAll() {
        config.warnings().forEach(w -> log.atWarn().log(w));
        if (config.localXdsPath() != null) {
            checkFirstVersion(Path.of(config.localXdsPath())); // before anything binds a port
        }
        Readiness.Task stateReady = readiness.register("state manager");
        Readiness.Task proxyReady = readiness.register("proxy");
        startServers();
        CompletableFuture<Void> synced = loadState(stateReady);
        if (ca instanceof LoadingCa loading) {
            // The local CA loaded beside the start so far; unusable CA files end the start here, before the node
            // agent or any client sees a proxy.
            loading.await();
        }
        if (config.proxyMode() == Config.ProxyMode.DEDICATED) {
            Config.LocalWorkloadInfo workloadInfo = config.proxyWorkloadInfo();
            if (workloadInfo == null) {
                throw new IllegalStateException("PROXY_MODE=dedicated needs PROXY_WORKLOAD_INFO");
            }
            if (config.upstream().proxyEnabled()) {
                ProxySet proxy = new ProxySet(
                        context, workloadInfo, Sockets.host(transport, context.keepalive()), config.bindAddress());
                proxies.add(proxy); // closed with the daemon, also when it fails to start
                proxy.start().join();
                closeables.add(dns().startOnHost(proxy.local()));
            } else {
                // ENABLE_PROXY=false: no proxy listeners, but the DNS proxy still serves the workload.
                LocalWorkload local = new LocalWorkload(workloadInfo, config.nodeName(), store, timer);
                closeables.add(local);
                closeables.add(dns().startOnHost(local));
            }
            proxyReady.done();
        } else {
            // In-pod mode: sockets are created in pods' namespaces and marked; fail now if we cannot.
            awaitCapabilities();
            inpod = new InpodManager(context, readiness, metrics.workloadManager(), fatal, dns());
            zds = new ZdsClient(Path.of(config.inpodUds()), inpod);
            zds.start();
            drain.onStart("ZDS client", zds::close); // the node agent hands the pods to the daemon replacing us
            proxyReady.done();
            if (OwnInbound.wanted(config)) {
                startOwnInbound(synced);
            }
        }
        log.atInfo()
                .addKeyValue("mode", config.proxyMode())
                .addKeyValue("workers", config.workerThreads())
                .addKeyValue("transport", transport.name())
                .addKeyValue("ca", ca.describe())
                .addKeyValue("admin", LogValues.address(adminAddress))
                .addKeyValue("readiness", LogValues.address(readinessAddress))
                .addKeyValue("metrics", LogValues.address(metricsAddress))
                .log("ztunnel started");
    }

    /**
     * ztunnel's own inbound HBONE listener ({@link OwnInbound}), bound after the first state sync. A bind failure is
     * logged; the rest of the daemon goes on.
     */
    private void startOwnInbound(CompletableFuture<Void> synced) {
        OwnInbound own = new OwnInbound(context, wildcard());
        closeables.add(own);
        synced.thenCompose(ignored -> own.start()).whenComplete((address, error) -> {
            if (error != null) {
                log.atError().addKeyValue("error", Errors.message(error)).log("ztunnel's own inbound did not start");
            } else {
                ownInboundAddress = address;
            }
        });
    }

    /**
     * The resolvers {@code /config_dump} shows: those the DNS proxy read when DNS capture is on; otherwise (or before
     * the proxy exists) {@code /etc/resolv.conf} read once, as upstream reads it whatever DNS capture says, and none
     * when it cannot be read. A dump never creates the DNS proxy.
     */
    private ResolvConf dumpedResolvers() {
        DnsProxy proxy;
        synchronized (this) {
            proxy = dnsProxy;
        }
        if (proxy != null && config.dns().enabled()) {
            return proxy.resolvConf();
        }
        ResolvConf read = systemResolvers;
        if (read == null) {
            try {
                read = ResolvConf.read(ResolvConf.SYSTEM);
            } catch (IllegalStateException e) {
                read = ResolvConf.NONE;
            }
            systemResolvers = read;
        }
        return read;
    }

    /** The DNS proxy, made (and its {@code resolv.conf} read) once: its servers and {@code /config_dump} share it. */
    private synchronized DnsProxy dns() {
        DnsProxy made = dnsProxy;
        if (made == null) {
            made = DnsProxy.create(config, store, dataPlane, transport.isEpoll(), metrics.dns());
            dnsProxy = made;
        }
        return made;
    }

    /**
     * Loads the state. With xDS, a local config ({@code LOCAL_XDS_PATH} / {@code LOCAL_XDS}) is loaded once as the
     * static config under the pushed state, as upstream does. Without xDS, a local file is watched: every edit
     * replaces the state, a broken edit is logged (naming line and field) and the previous state stays. The first
     * version must be valid or the daemon does not start. The result completes when the first state is in (with xDS,
     * after the first sync of both resource types).
     */
    private CompletableFuture<Void> loadState(Readiness.Task stateReady) {
        if (config.xdsEnabled()) {
            ProxyState staticState = null;
            if (config.localXdsPath() != null || config.localXds() != null) {
                try {
                    staticState = LocalConfigSource.toState(
                            Objects.requireNonNull(localConfig(), "LOCAL_XDS_PATH or LOCAL_XDS is set"));
                } catch (LocalConfigException | ConversionException e) {
                    throw new ConfigException(
                            (config.localXdsPath() != null ? "LOCAL_XDS_PATH=" + config.localXdsPath() : "LOCAL_XDS")
                                    + ": " + Errors.message(e));
                }
            }
            ControlPlane xds =
                    ControlPlane.start(config, control, transport, store, certificates, metrics.xds(), staticState);
            closeables.add(xds);
            // "state manager" stays pending until both resource types have been ACKed once.
            return xds.ready().thenRun(stateReady::done);
        }
        LocalConfigSource source = new LocalConfigSource(store);
        if (config.localXdsPath() != null) {
            Path path = Path.of(config.localXdsPath());
            CompletableFuture<Void> first = new CompletableFuture<>();
            try {
                LocalConfigWatcher watcher = LocalConfigWatcher.start(path, new LocalConfigWatcher.Listener() {
                    @Override
                    public void onConfig(LocalConfig loaded) {
                        try {
                            source.apply(loaded, path.toString());
                            first.complete(null);
                        } catch (ConversionException e) {
                            rejected(path, Errors.message(e), first);
                        }
                    }

                    @Override
                    public void onError(LocalConfigException error) {
                        rejected(path, Errors.message(error), first);
                    }
                });
                closeables.add(watcher);
                first.get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                throw new IllegalStateException(
                        "local config " + path + ": " + Errors.message(cause != null ? cause : e), e);
            } catch (Exception e) {
                throw new IllegalStateException("local config " + path + ": " + Errors.message(e), e);
            }
        } else if (config.localXds() != null) {
            try {
                source.apply(LocalConfigParser.parseInline(config.localXds()), "LOCAL_XDS");
            } catch (LocalConfigException | ConversionException e) {
                throw new IllegalStateException("LOCAL_XDS: " + Errors.message(e), e);
            }
        }
        stateReady.done();
        return CompletableFuture.completedFuture(null);
    }

    /** The local config as the variables give it (file or inline text); null when neither is set. */
    @Nullable
    LocalConfig localConfig() throws LocalConfigException {
        if (config.localXdsPath() != null) {
            return LocalConfigParser.parseFile(Path.of(config.localXdsPath()));
        }
        return config.localXds() != null ? LocalConfigParser.parseInline(config.localXds()) : null;
    }

    /**
     * The first version of the local config must be readable and valid or the daemon does not start: say so in one
     * line naming the variable and the cause, before the watcher (which treats a bad version as an edit to skip)
     * sees it.
     */
    private static void checkFirstVersion(Path path) {
        String where = "LOCAL_XDS_PATH=" + path;
        if (!Files.exists(path)) {
            throw new ConfigException(where + ": no such file");
        }
        if (Files.isDirectory(path)) {
            throw new ConfigException(where + ": is a directory, expected a YAML file");
        }
        if (!Files.isReadable(path)) {
            throw new ConfigException(where + ": not readable by this process");
        }
        try {
            LocalConfigParser.parseFile(path);
        } catch (LocalConfigException e) {
            String reason = Errors.message(e);
            String prefix = path + ": ";
            throw new ConfigException(
                    where + ": " + (reason.startsWith(prefix) ? reason.substring(prefix.length()) : reason));
        }
    }

    private static void rejected(Path path, String reason, CompletableFuture<Void> first) {
        if (first.isDone()) {
            log.atError()
                    .addKeyValue("file", path)
                    .addKeyValue("error", reason)
                    .log("local config edit rejected; the previous config stays in force");
        } else {
            first.completeExceptionally(new IllegalArgumentException(reason));
        }
    }

    private void startServers() {
        AdminApi api = new AdminApi(
                this::configDump,
                store,
                connections,
                config.network(),
                new AdminApi.LogLevels() {
                    @Override
                    public String change(boolean reset, String level) {
                        return LogConfig.change(reset, level).toString();
                    }

                    @Override
                    public String current() {
                        return LogConfig.current().toString();
                    }
                },
                this::shutdown);
        Map<String, HttpServer.Handler> admin = api.routes();
        HttpServer adminServer = new HttpServer(admin);
        closeables.add(adminServer);
        adminAddress = adminServer.bind(
                control,
                transport.serverChannel(),
                new InetSocketAddress(
                        InetAddress.getLoopbackAddress(), config.ports().admin()));
        if (config.ipv6Enabled()) {
            try {
                adminServer.bind(
                        control,
                        transport.serverChannel(),
                        new InetSocketAddress(InetAddress.getByName("::1"), adminAddress.getPort()));
            } catch (Exception e) {
                log.atDebug().addKeyValue("error", Errors.message(e)).log("admin not bound on ::1");
            }
        }
        HttpServer readinessServer =
                new HttpServer(Map.of("/healthz/ready", r -> done(readiness.response(r.method()))));
        closeables.add(readinessServer);
        readinessAddress = readinessServer.bind(
                control,
                transport.serverChannel(),
                new InetSocketAddress(wildcard(), config.ports().readiness()));
        MetricsServer metricsServer = MetricsServer.builder(metrics, control)
                .port(config.ports().stats())
                .build();
        closeables.add(metricsServer::close);
        try {
            metricsAddress = metricsServer.start();
        } catch (Exception e) {
            throw new IllegalStateException(
                    "cannot start the metrics server on port " + config.ports().stats() + ": " + Errors.message(e), e);
        }
    }

    private InetAddress wildcard() {
        try {
            return InetAddress.getByName(config.ipv6Enabled() ? "::" : "0.0.0.0");
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }

    private static CompletableFuture<HttpServer.Response> done(HttpServer.Response response) {
        return CompletableFuture.completedFuture(response);
    }

    /** {@code /config_dump}, in upstream's shape ({@link ConfigDump}). */
    public Map<String, Object> configDump() {
        ProxyState state = store.current();
        Map<String, Object> dump = new LinkedHashMap<>(ConfigDump.state(state));
        dump.put("staticConfig", staticConfig());
        dump.put("certificates", ConfigDump.certificates(certificates.status()));
        // The build records no git revision or tree status: both are "unknown".
        dump.put("version", ConfigDump.version(Main.VERSION, "unknown", "unknown", config.istioVersion()));
        ResolvConf resolv = dumpedResolvers();
        dump.put(
                "config",
                ConfigDump.config(
                        config,
                        ca.describe(),
                        new ConfigDump.DnsResolver(
                                resolv.domain(),
                                resolv.search(),
                                resolv.nameservers(),
                                resolv.timeout(),
                                resolv.attempts(),
                                resolv.ndots(),
                                resolv.edns0(),
                                resolv.rotate())));
        if (inpod != null) {
            dump.put("workloadState", ConfigDump.workloadState(inpod.state(), connections.snapshot()));
        }
        return dump;
    }

    /**
     * The local config re-read, as upstream does at every dump; empty lists when there is none. A file that does not
     * read or parse is logged and shown empty.
     */
    private Map<String, Object> staticConfig() {
        try {
            LocalConfig local = localConfig();
            if (local != null) {
                return ConfigDump.staticConfig(LocalConfigSource.toState(local));
            }
        } catch (LocalConfigException | ConversionException e) {
            log.atError().addKeyValue("error", Errors.message(e)).log("failed to load static config from local XDS");
        }
        return ConfigDump.staticConfig(ProxyState.EMPTY);
    }

    public StateStore state() {
        return store;
    }

    public Readiness readiness() {
        return readiness;
    }

    public ConnectionTracker connections() {
        return connections;
    }

    public CertificateManager certificates() {
        return certificates;
    }

    public @Nullable InetSocketAddress adminAddress() {
        return adminAddress;
    }

    public @Nullable InetSocketAddress readinessAddress() {
        return readinessAddress;
    }

    /** Where ztunnel's own inbound HBONE listener is bound, once it is (shared mode with the pod's identity). */
    public @Nullable InetSocketAddress ownInboundAddress() {
        return ownInboundAddress;
    }

    public @Nullable InetSocketAddress metricsAddress() {
        return metricsAddress;
    }

    public List<ProxySet> proxies() {
        return List.copyOf(proxies);
    }

    /**
     * Graceful shutdown: not ready, stop accepting, GOAWAY to inbound HBONE peers, let live connections finish until
     * the termination deadline, then close the rest and stop. Returns when done; later calls wait for the first.
     */
    public void shutdown() {
        if (!shuttingDown.compareAndSet(false, true)) {
            awaitStopped(config.terminationDeadline().plusSeconds(5));
            return;
        }
        readiness.register("draining");
        Duration deadline = config.terminationDeadline();
        log.atInfo()
                .addKeyValue("deadline", deadline)
                .addKeyValue("connections", connections.size())
                .log("draining");
        // Proxies stop accepting, inbound HBONE peers get GOAWAY, the ZDS client lets go of the pods.
        drain.start();
        if (!drain.awaitIdle(deadline)) {
            log.atInfo().addKeyValue("connections", connections.size()).log("drain deadline reached; closing");
            connections.abortAll("connection closed due to connection drain");
        }
        close();
        log.info("ztunnel stopped");
    }

    /** Waits until the daemon has stopped. */
    public boolean awaitStopped(Duration timeout) {
        try {
            return stopped.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    @Override
    public void close() {
        subscriptions.forEach(Subscription::close);
        if (zds != null) {
            zds.close();
        }
        if (inpod != null) {
            inpod.closeAll();
        }
        for (ProxySet p : proxies) {
            p.close();
        }
        for (AutoCloseable c : closeables) {
            try {
                c.close();
            } catch (Exception e) {
                log.atDebug().addKeyValue("error", Errors.message(e)).log("close failed");
            }
        }
        certificates.close();
        if (crl != null) {
            crl.close();
        }
        if (ca instanceof AutoCloseable closeableCa) {
            try {
                closeableCa.close();
            } catch (Exception e) {
                log.atDebug().addKeyValue("error", Errors.message(e)).log("closing the CA client failed");
            }
        }
        metrics.close();
        Transport.shutdown(dataPlane);
        Transport.shutdown(control);
        stopped.countDown();
    }
}
