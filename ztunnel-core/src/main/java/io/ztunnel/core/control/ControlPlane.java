package io.ztunnel.core.control;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollChannelOption;
import io.ztunnel.core.config.Config;
import io.ztunnel.core.identity.CertificateAuthority;
import io.ztunnel.core.identity.CertificateManager;
import io.ztunnel.core.identity.IstiodCa;
import io.ztunnel.core.identity.LoadingCa;
import io.ztunnel.core.net.Transport;
import io.ztunnel.core.state.ProxyState;
import io.ztunnel.core.state.StateStore;
import io.ztunnel.core.util.Errors;
import io.ztunnel.metrics.XdsMetrics;
import io.ztunnel.metrics.XdsTerminationReason;
import io.ztunnel.xds.ads.DeltaAdsClient;
import io.ztunnel.xds.ads.NodeIdentity;
import io.ztunnel.xds.ads.TerminationReason;
import io.ztunnel.xds.ads.XdsClientListener;
import io.ztunnel.xds.channel.AuthToken;
import io.ztunnel.xds.channel.ControlPlaneAddress;
import io.ztunnel.xds.channel.ControlPlaneEndpoint;
import io.ztunnel.xds.channel.RootCertificates;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon's connection to the Istio control plane: the Delta ADS client to istiod ({@code XDS_ADDRESS}) feeding the
 * state store through an {@link XdsStateSource}, with certificate warm-up for local workloads and the {@code
 * istio_xds_*} metrics; plus the factory that picks the certificate authority (istiod at {@code CA_ADDRESS}, or the
 * embedded local CA).
 *
 * <h2>How the daemon uses it</h2>
 *
 * <pre>{@code
 * // constructor, after the control group exists:
 * this.ca = ControlPlane.certificateAuthority(config, control, transport);
 * // loadState, when config.xdsEnabled():
 * ControlPlane xds = ControlPlane.start(config, control, transport, store, certificates, metrics.xds());
 * closeables.add(xds);
 * xds.ready().thenRun(stateReady::done);
 * // close(), after certificates.close():
 * if (ca instanceof AutoCloseable closeableCa) closeableCa.close();
 * }</pre>
 *
 * <h2>Channels</h2>
 *
 * Both istiod channels are configured from {@link Config} as upstream ztunnel configures them: TLS verified against
 * {@code XDS_ROOT_CA} / {@code CA_ROOT_CA} with {@code ALT_XDS_HOSTNAME} / {@code ALT_CA_HOSTNAME} as fallback host
 * names, the {@code AUTH_TOKEN} bearer token re-read on every call (the default token path is used only when the file
 * exists, so outside Kubernetes no token is sent), the {@code clusterid} header, {@code XDS_HEADER_*} / {@code
 * CA_HEADER_*}, and on epoll TCP keepalive 300 s idle, 75 s interval, 9 probes. gRPC runs on the daemon's control
 * event loop group with the matching channel type of the daemon's {@link Transport}, never on data-plane loops.
 *
 * <h2>Node identity</h2>
 *
 * {@code INSTANCE_IP}, {@code POD_NAME}, {@code POD_NAMESPACE}, {@code NODE_NAME}, every {@code ISTIO_META_*} (plus
 * {@code CLUSTER_ID}, which istiod reads from the node metadata, when not given that way) and every {@code
 * ISTIO_METAJSON_*}; see {@link NodeIdentity} for the node id and metadata layout.
 *
 * <p>Threading: {@link #start}, {@link #ready}, {@link #close} may be called from any thread; resources are applied on
 * the ADS client's own thread. Ownership: the instance owns the ADS client (its thread and gRPC channel) and closes it
 * in {@link #close}; the store, certificate manager, metrics and event loop group stay the caller's. A CA returned by
 * {@link #certificateAuthority} is the caller's to close when it is {@link AutoCloseable}.
 */
public final class ControlPlane implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ControlPlane.class);

    /** Config's default {@code AUTH_TOKEN}: the projected service-account token, used only if the file exists. */
    static final String DEFAULT_AUTH_TOKEN = "./var/run/secrets/tokens/istio-token";

    private final ControlPlaneEndpoint endpoint;
    private final NodeIdentity node;
    private final XdsStateSource source;
    private final DeltaAdsClient client;
    private final StateStore store;

    private ControlPlane(
            ControlPlaneEndpoint endpoint,
            NodeIdentity node,
            XdsStateSource source,
            DeltaAdsClient client,
            StateStore store) {
        this.endpoint = endpoint;
        this.node = node;
        this.source = source;
        this.client = client;
        this.store = store;
    }

    /** As {@link #start(Config, EventLoopGroup, Transport, StateStore, CertificateManager, XdsMetrics, ProxyState)}
     * without a static config. */
    public static ControlPlane start(
            Config config,
            EventLoopGroup control,
            Transport transport,
            StateStore store,
            CertificateManager certificates,
            XdsMetrics metrics) {
        return start(config, control, transport, store, certificates, metrics, null);
    }

    /**
     * Connects to istiod and starts feeding {@code store}. Returns at once; {@link #ready()} tells when the first
     * responses of both types were ACKed.
     *
     * @param config must have {@link Config#xdsEnabled()}
     * @param control the daemon's control event loop group (gRPC runs there)
     * @param transport the daemon's socket transport (epoll or NIO), for the channel type
     * @param store the state to replace on every push; the control plane is its only writer
     * @param certificates where certificates of local workloads are prefetched and forgotten (shared mode)
     * @param metrics {@code istio_xds_*}
     * @param staticState the static config held under the pushed state ({@link XdsStateSource#seed}), or null
     * @throws IllegalStateException naming the variable when the xDS settings cannot be used
     */
    public static ControlPlane start(
            Config config,
            EventLoopGroup control,
            Transport transport,
            StateStore store,
            CertificateManager certificates,
            XdsMetrics metrics,
            @Nullable ProxyState staticState) {
        Objects.requireNonNull(store, "store");
        Objects.requireNonNull(certificates, "certificates");
        Objects.requireNonNull(metrics, "metrics");
        if (!config.xdsEnabled()) {
            throw new IllegalStateException("XDS_ADDRESS is empty: xDS is disabled");
        }
        ControlPlaneEndpoint endpoint = xdsEndpoint(config, control, transport);
        NodeIdentity node = nodeIdentity(config);
        boolean shared = config.proxyMode() == Config.ProxyMode.SHARED;
        if (shared && config.nodeName().isEmpty()) {
            log.atWarn()
                    .log("NODE_NAME is not set: no workload is known to be on this node, so certificates are not "
                            + "prefetched");
        }
        XdsStateSource source = new XdsStateSource(
                store,
                config.nodeName(),
                shared ? XdsStateSource.CertificateWarmer.of(certificates) : XdsStateSource.CertificateWarmer.NONE);
        if (staticState != null) {
            source.seed(staticState);
        }
        boolean onDemand = config.upstream().xdsOnDemand();
        DeltaAdsClient client = DeltaAdsClient.builder(endpoint, node, source)
                .listener(new MetricsListener(metrics))
                .onDemand(onDemand)
                .build();
        ControlPlane controlPlane = new ControlPlane(endpoint, node, source, client, store);
        if (onDemand) {
            store.onDemand().enable(client::demand);
        }
        client.start();
        log.atInfo()
                .addKeyValue("address", endpoint.address())
                .addKeyValue("node", node.id())
                .addKeyValue("clusterId", config.clusterId())
                .addKeyValue("onDemand", onDemand)
                .log("xDS client started");
        return controlPlane;
    }

    /**
     * The certificate authority the daemon should use: the embedded local CA in {@code LOCAL_CA_DIR} when
     * {@link Config#localCa()} (no {@code CA_ADDRESS}, or {@code LOCAL_CA_DIR} set explicitly), loading on a thread of
     * its own ({@link LoadingCa}: its {@link LoadingCa#await} reports unusable CA files), otherwise istiod's CA at
     * {@code CA_ADDRESS} ({@link IstiodCa}, impersonating workloads in shared mode). An {@link IstiodCa} is {@link
     * AutoCloseable}: the caller closes it after the certificate manager.
     *
     * @throws IllegalStateException naming the variable when the CA settings cannot be used
     */
    public static CertificateAuthority certificateAuthority(
            Config config, EventLoopGroup control, Transport transport) {
        CertificateAuthority ca = config.localCa()
                ? LoadingCa.start(config.localCaDir(), Clock.systemUTC())
                : IstiodCa.create(
                        caEndpoint(config, control, transport), config.proxyMode() == Config.ProxyMode.SHARED);
        log.atInfo().addKeyValue("ca", ca.describe()).log("certificate authority selected");
        return ca;
    }

    /** Who this ztunnel is, for istiod (see the class comment). */
    public static NodeIdentity nodeIdentity(Config config) {
        Map<String, String> metadata = new LinkedHashMap<>(config.proxyMetadata());
        metadata.putIfAbsent("CLUSTER_ID", config.clusterId());
        return new NodeIdentity(
                config.instanceIp(),
                config.podName(),
                config.podNamespace(),
                config.nodeName(),
                metadata,
                config.proxyMetadataJson());
    }

    /** The discovery endpoint: {@code XDS_ADDRESS}, {@code XDS_ROOT_CA}, {@code ALT_XDS_HOSTNAME}, {@code XDS_HEADER_*}. */
    public static ControlPlaneEndpoint xdsEndpoint(Config config, EventLoopGroup control, Transport transport) {
        return endpoint(
                "XDS",
                config.xdsAddress(),
                config.xdsRootCa(),
                config.altXdsHostname(),
                config.authToken(),
                config.clusterId(),
                config.xdsHeaders(),
                control,
                transport);
    }

    /** The CA endpoint: {@code CA_ADDRESS}, {@code CA_ROOT_CA}, {@code ALT_CA_HOSTNAME}, {@code CA_HEADER_*}. */
    public static ControlPlaneEndpoint caEndpoint(Config config, EventLoopGroup control, Transport transport) {
        return endpoint(
                "CA",
                config.caAddress(),
                config.caRootCa(),
                config.altCaHostname(),
                config.authToken(),
                config.clusterId(),
                config.caHeaders(),
                control,
                transport);
    }

    private static ControlPlaneEndpoint endpoint(
            String prefix,
            String address,
            String rootCa,
            String altHostname,
            String token,
            String clusterId,
            Map<String, String> headers,
            EventLoopGroup control,
            Transport transport) {
        Objects.requireNonNull(control, "control");
        Objects.requireNonNull(transport, "transport");
        ControlPlaneAddress parsed;
        try {
            parsed = ControlPlaneAddress.parse(address);
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException(prefix + "_ADDRESS=" + address + ": " + Errors.message(e), e);
        }
        ControlPlaneEndpoint.Builder builder = ControlPlaneEndpoint.builder(parsed)
                .altHostname(altHostname)
                .token(authToken(token))
                .clusterId(clusterId)
                .eventLoop(control, transport.socketChannel());
        try {
            builder.roots(RootCertificates.fromSetting(rootCa));
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException(prefix + "_ROOT_CA: " + Errors.message(e), e);
        }
        for (Map.Entry<String, String> header : headers.entrySet()) {
            try {
                builder.header(header.getKey(), header.getValue());
            } catch (IllegalArgumentException e) {
                throw new IllegalStateException(prefix + "_HEADER_" + header.getKey() + ": " + Errors.message(e), e);
            }
        }
        if (transport.isEpoll()) {
            builder.channelOption(EpollChannelOption.TCP_KEEPIDLE, 300)
                    .channelOption(EpollChannelOption.TCP_KEEPINTVL, 75)
                    .channelOption(EpollChannelOption.TCP_KEEPCNT, 9);
        }
        return builder.build();
    }

    /**
     * {@code AUTH_TOKEN}: an existing file is re-read per call, anything else is a literal token; the default path
     * counts only when the file exists (no token otherwise, e.g. outside Kubernetes).
     */
    static AuthToken authToken(String setting) {
        if (setting == null || setting.isBlank()) {
            return AuthToken.none();
        }
        if (setting.equals(DEFAULT_AUTH_TOKEN) && !isFile(setting)) {
            log.atDebug()
                    .addKeyValue("path", setting)
                    .log("no service-account token file; calling istiod without a bearer token");
            return AuthToken.none();
        }
        AuthToken token = AuthToken.fromSetting(setting);
        if (!setting.equals(DEFAULT_AUTH_TOKEN)
                && (setting.startsWith("/") || setting.startsWith("./"))
                && !isFile(setting)) {
            log.atWarn()
                    .addKeyValue("variable", "AUTH_TOKEN")
                    .log("AUTH_TOKEN looks like a path but no such file exists; sending the value itself as the token");
        }
        return token;
    }

    private static boolean isFile(String path) {
        try {
            return Files.isRegularFile(Path.of(path));
        } catch (InvalidPathException e) {
            return false;
        }
    }

    /**
     * Completes when the first responses of both xDS types were ACKed (with {@code XDS_ON_DEMAND}, of the
     * authorization type alone); fails if closed first.
     */
    public CompletableFuture<Void> ready() {
        return client.ready();
    }

    /** The resource holder (for diagnostics: counts, local identities). */
    public XdsStateSource source() {
        return source;
    }

    /** What this ztunnel tells istiod it is. */
    public NodeIdentity node() {
        return node;
    }

    /** What the ADS client holds per type URL (name → version), as it will report on reconnect. */
    public Map<String, Map<String, String>> heldVersions() {
        return client.heldVersions();
    }

    /** {@code xDS <address>}, for logs and {@code /config_dump}. */
    public String describe() {
        return "xDS " + endpoint.address();
    }

    /**
     * Stops the ADS stream and its thread; the state stays as last applied. On-demand waits end (as not found) and no
     * further address is asked for. Idempotent.
     */
    @Override
    public void close() {
        client.close();
        store.onDemand().close();
    }

    /** Maps ADS client events onto {@code istio_xds_*}. Called on the client's thread. */
    private record MetricsListener(XdsMetrics metrics) implements XdsClientListener {
        @Override
        public void onConnectionTerminated(TerminationReason reason) {
            metrics.terminated(
                    switch (reason) {
                        case CONNECTION_ERROR -> XdsTerminationReason.CONNECTION_ERROR;
                        case ERROR -> XdsTerminationReason.ERROR;
                        case RECONNECT -> XdsTerminationReason.RECONNECT;
                        case COMPLETE -> XdsTerminationReason.COMPLETE;
                    });
        }

        @Override
        public void onMessage(String typeUrl, long bytes) {
            metrics.messageReceived(typeUrl, bytes);
        }
    }
}
