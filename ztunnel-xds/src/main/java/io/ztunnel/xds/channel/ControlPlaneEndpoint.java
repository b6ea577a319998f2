package io.ztunnel.xds.channel;

import io.grpc.CallCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.ztunnel.xds.ErrorText;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;
import org.jspecify.annotations.Nullable;

/**
 * Everything needed to open a gRPC channel to one istiod service (discovery or CA), configured
 * as upstream ztunnel configures its control-plane channels:
 *
 * <ul>
 *   <li>TLS for {@code https} addresses: server certificate verified against {@link
 *       RootCertificates} (re-read on change) and the address's host, with an alternate host name
 *       as fallback; no client certificate; ALPN {@code h2}. Plaintext for {@code http} addresses.
 *   <li>Call metadata on every call: {@code authorization: Bearer <token>} re-read per call,
 *       {@code clusterid}, and extra headers.
 *   <li>Connect timeout 5 s, HTTP/2 keepalive every 30 s with a 10 s timeout, TCP keepalive on,
 *       maximum inbound message 200 MiB.
 * </ul>
 *
 * <p>The channel runs on the caller's Netty {@link EventLoopGroup} and channel type (the daemon's
 * control-plane group), so grpc-netty shares the daemon's Netty instead of bringing its own
 * threads; without one, grpc-netty's shared default group is used. Transport-specific socket
 * options (e.g. epoll's TCP_KEEPIDLE 300 s / TCP_KEEPINTVL 75 s / TCP_KEEPCNT 9, as upstream)
 * are passed through {@link Builder#channelOption}.
 *
 * <p>The TLS provider is the JDK's: control-plane traffic is small, and the JDK engine leaves the
 * host name check entirely to our trust manager (which is what makes the alternate host name
 * possible).
 *
 * <p>Immutable and thread-safe. Each {@link #newChannel} call creates a channel the caller owns
 * and must shut down.
 */
public final class ControlPlaneEndpoint {
    /** Upstream's maximum decoded message size. */
    public static final int DEFAULT_MAX_INBOUND_MESSAGE_BYTES = 200 * 1024 * 1024;

    private final ControlPlaneAddress address;
    private final RootCertificates roots;
    private final Optional<String> altHostname;
    private final AuthToken token;
    private final Optional<String> clusterId;
    private final Map<String, String> headers;
    private final @Nullable LoopChoice eventLoop;
    private final Map<ChannelOption<?>, Object> channelOptions;
    private final Duration connectTimeout;
    private final Duration keepAliveTime;
    private final Duration keepAliveTimeout;
    private final int maxInboundMessageBytes;
    private final ControlPlaneCallCredentials credentials;

    private ControlPlaneEndpoint(Builder b) {
        this.address = b.address;
        this.roots = b.roots;
        this.altHostname = b.altHostname;
        this.token = b.token;
        this.clusterId = b.clusterId;
        this.headers = Map.copyOf(b.headers);
        this.eventLoop = b.eventLoop;
        this.channelOptions = new LinkedHashMap<>(b.channelOptions);
        this.connectTimeout = b.connectTimeout;
        this.keepAliveTime = b.keepAliveTime;
        this.keepAliveTimeout = b.keepAliveTimeout;
        this.maxInboundMessageBytes = b.maxInboundMessageBytes;
        List<Map.Entry<Metadata.Key<String>, String>> keys = new ArrayList<>();
        for (Map.Entry<String, String> h : b.headers.entrySet()) {
            keys.add(Map.entry(Metadata.Key.of(h.getKey(), Metadata.ASCII_STRING_MARSHALLER), h.getValue()));
        }
        this.credentials = new ControlPlaneCallCredentials(token, clusterId, keys);
    }

    /** Starts a builder for the given address (e.g. {@code ControlPlaneAddress.parse(XDS_ADDRESS)}). */
    public static Builder builder(ControlPlaneAddress address) {
        return new Builder(address);
    }

    public ControlPlaneAddress address() {
        return address;
    }

    /** The per-call metadata (token, cluster id, extra headers) to attach to every call. */
    public CallCredentials callCredentials() {
        return credentials;
    }

    /**
     * Opens a new channel (connection is lazy: it happens on the first call).
     *
     * @param executor where grpc runs call callbacks and reads the token; the caller keeps
     *     ownership
     * @throws IllegalStateException if the TLS context cannot be built
     */
    public ManagedChannel newChannel(Executor executor) {
        NettyChannelBuilder builder = NettyChannelBuilder.forAddress(address.host(), address.port())
                .executor(executor)
                .maxInboundMessageSize(maxInboundMessageBytes)
                .keepAliveTime(keepAliveTime.toNanos(), TimeUnit.NANOSECONDS)
                .keepAliveTimeout(keepAliveTimeout.toNanos(), TimeUnit.NANOSECONDS)
                // Like upstream's hyper client: pings only while a call is open.
                .keepAliveWithoutCalls(false)
                .disableRetry()
                .userAgent("ztunnel-java")
                .withOption(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) connectTimeout.toMillis())
                .withOption(ChannelOption.SO_KEEPALIVE, true);
        if (eventLoop != null) {
            builder.eventLoopGroup(eventLoop.group()).channelType(eventLoop.channelType());
        }
        for (Map.Entry<ChannelOption<?>, Object> option : channelOptions.entrySet()) {
            withOption(builder, option.getKey(), option.getValue());
        }
        if (address.tls()) {
            builder.useTransportSecurity().sslContext(sslContext());
        } else {
            builder.usePlaintext();
        }
        return builder.build();
    }

    @SuppressWarnings("unchecked")
    private static <T> void withOption(NettyChannelBuilder builder, ChannelOption<T> option, Object value) {
        builder.withOption(option, (T) value);
    }

    private SslContext sslContext() {
        try {
            return GrpcSslContexts.configure(SslContextBuilder.forClient(), SslProvider.JDK)
                    .trustManager(new ControlPlaneTrustManager(roots, address.host(), altHostname))
                    // Empty (not null) so neither grpc nor Netty adds its own host name check.
                    .endpointIdentificationAlgorithm("")
                    .build();
        } catch (SSLException e) {
            throw new IllegalStateException("cannot build the TLS context for " + address + ": " + ErrorText.of(e), e);
        }
    }

    @Override
    public String toString() {
        return "ControlPlaneEndpoint{"
                + address
                + ", roots="
                + roots
                + altHostname.map(a -> ", altHostname=" + a).orElse("")
                + ", token="
                + token
                + clusterId.map(c -> ", clusterId=" + c).orElse("")
                + ", headers="
                + headers.keySet()
                + "}";
    }

    /** A Netty event loop group and the channel type that matches it (epoll or NIO). */
    private record LoopChoice(EventLoopGroup group, Class<? extends Channel> channelType) {}

    /**
     * Builds a {@link ControlPlaneEndpoint}. Not thread-safe. Defaults: system roots, no alternate
     * host name, no token, no cluster id, no extra headers, grpc's default event loop group.
     */
    public static final class Builder {
        private final ControlPlaneAddress address;
        private RootCertificates roots = RootCertificates.system();
        private Optional<String> altHostname = Optional.empty();
        private AuthToken token = AuthToken.none();
        private Optional<String> clusterId = Optional.empty();
        private final Map<String, String> headers = new LinkedHashMap<>();
        private @Nullable LoopChoice eventLoop;
        private final Map<ChannelOption<?>, Object> channelOptions = new LinkedHashMap<>();
        private Duration connectTimeout = Duration.ofSeconds(5);
        private Duration keepAliveTime = Duration.ofSeconds(30);
        private Duration keepAliveTimeout = Duration.ofSeconds(10);
        private int maxInboundMessageBytes = DEFAULT_MAX_INBOUND_MESSAGE_BYTES;

        private Builder(ControlPlaneAddress address) {
            this.address = Objects.requireNonNull(address, "address");
        }

        /** Trust anchors for the server certificate ({@code XDS_ROOT_CA} / {@code CA_ROOT_CA}). */
        public Builder roots(RootCertificates roots) {
            this.roots = Objects.requireNonNull(roots, "roots");
            return this;
        }

        /** Host name also accepted in the server certificate ({@code ALT_*_HOSTNAME}). */
        public Builder altHostname(String altHostname) {
            this.altHostname =
                    altHostname == null || altHostname.isBlank() ? Optional.empty() : Optional.of(altHostname);
            return this;
        }

        /** The bearer token ({@code AUTH_TOKEN}). */
        public Builder token(AuthToken token) {
            this.token = Objects.requireNonNull(token, "token");
            return this;
        }

        /** Sent as the {@code clusterid} header ({@code CLUSTER_ID}); blank means none. */
        public Builder clusterId(String clusterId) {
            this.clusterId = clusterId == null || clusterId.isBlank() ? Optional.empty() : Optional.of(clusterId);
            return this;
        }

        /**
         * Adds an extra header ({@code XDS_HEADER_<name>} / {@code CA_HEADER_<name>}). The name is
         * lower-cased as HTTP/2 requires.
         *
         * @throws IllegalArgumentException if the name or value is not a valid ASCII header
         */
        public Builder header(String name, String value) {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(value, "value");
            String key = name.toLowerCase(Locale.ROOT);
            if (key.endsWith(Metadata.BINARY_HEADER_SUFFIX) || key.startsWith(":")) {
                throw new IllegalArgumentException("header " + name + ": binary and pseudo headers are not allowed");
            }
            try {
                Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("header " + name + ": invalid name: " + ErrorText.of(e), e);
            }
            for (int i = 0; i < value.length(); i++) {
                char c = value.charAt(i);
                if (c < 0x20 || c > 0x7e) {
                    throw new IllegalArgumentException(
                            "header " + name + ": value must be printable ASCII (character " + i + " is not)");
                }
            }
            headers.put(key, value);
            return this;
        }

        /** Adds several extra headers; see {@link #header}. */
        public Builder headers(Map<String, String> headers) {
            headers.forEach(this::header);
            return this;
        }

        /** The Netty event loop group and matching channel type to run the channel on. */
        public Builder eventLoop(EventLoopGroup group, Class<? extends Channel> channelType) {
            this.eventLoop = new LoopChoice(
                    Objects.requireNonNull(group, "group"), Objects.requireNonNull(channelType, "channelType"));
            return this;
        }

        /** A socket option for the channel type in use (e.g. epoll's TCP_KEEPIDLE). */
        public <T> Builder channelOption(ChannelOption<T> option, T value) {
            channelOptions.put(Objects.requireNonNull(option, "option"), Objects.requireNonNull(value, "value"));
            return this;
        }

        public Builder connectTimeout(Duration timeout) {
            this.connectTimeout = positive(timeout, "connectTimeout");
            return this;
        }

        public Builder keepAlive(Duration time, Duration timeout) {
            this.keepAliveTime = positive(time, "keepAliveTime");
            this.keepAliveTimeout = positive(timeout, "keepAliveTimeout");
            return this;
        }

        public Builder maxInboundMessageBytes(int bytes) {
            if (bytes <= 0) {
                throw new IllegalArgumentException("maxInboundMessageBytes: " + bytes + " (expected: > 0)");
            }
            this.maxInboundMessageBytes = bytes;
            return this;
        }

        public ControlPlaneEndpoint build() {
            return new ControlPlaneEndpoint(this);
        }

        private static Duration positive(Duration d, String name) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(name + ": " + d + " (expected: > 0)");
            }
            return d;
        }
    }
}
