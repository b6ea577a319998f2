package io.ztunnel.cni.rules;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.socket.DatagramPacket;
import io.ztunnel.cni.linux.NetnsChannelFactory;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.cni.linux.SocketOptions;
import io.ztunnel.cni.testing.NoFdLeaks;
import io.ztunnel.cni.testing.RequiresNetns;
import io.ztunnel.cni.testing.TestNetns;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Proof that the rules redirect real traffic: a pod namespace with the rules applied and plain
 * listeners (test code, not the daemon) on 15001, 15006, 15008 and 15053 (UDP and TCP), joined by a
 * veth pair to an "outside" namespace. Run once with iptables and once with native nftables.
 */
@RequiresNetns(tools = {"iptables-restore", "ip6tables-restore", "nft", "nsenter"})
@ExtendWith(NoFdLeaks.class)
class RedirectTrafficNetnsTest {
    private static final InetAddress POD_IP = InetAddress.ofLiteral("10.71.0.2");
    private static final InetAddress PEER_IP = InetAddress.ofLiteral("10.71.0.1");
    private static final InetAddress POD_IP6 = InetAddress.ofLiteral("fd00:71::2");
    private static final InetAddress PEER_IP6 = InetAddress.ofLiteral("fd00:71::1");
    private static final InetAddress PROBE = InetAddress.ofLiteral("169.254.7.127");

    /** What a listener saw: the port it listens on, the connection's original destination and peer. */
    record Accepted(int listenerPort, Optional<InetSocketAddress> originalDst, InetSocketAddress peer) {}

    private EventLoopGroup group;
    private final List<Channel> channels = new ArrayList<>();

    /**
     * The JDK keeps one socket of its own open after the first blocking {@link Socket} is used in the JVM; using one
     * here keeps that socket from looking like a leak of the first test that does (NoFdLeaks).
     */
    @BeforeAll
    static void letTheJdkOpenItsOwnSocket() throws IOException {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                Socket client = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
                Socket accepted = server.accept()) {
            client.setSoTimeout(1);
        }
    }

    @BeforeEach
    void startEventLoop() {
        group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    }

    @AfterEach
    void stop() throws Exception {
        for (Channel c : channels) {
            c.close().sync();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    private BlockingQueue<Accepted> listen(PodNetns netns, int port) throws Exception {
        BlockingQueue<Accepted> seen = new LinkedBlockingQueue<>();
        Channel server = new ServerBootstrap()
                .group(group)
                .channelFactory(NetnsChannelFactory.serverSocket(netns, 0, false))
                .childHandler(new ChannelInitializer<EpollSocketChannel>() {
                    @Override
                    protected void initChannel(EpollSocketChannel ch) throws Exception {
                        seen.add(new Accepted(port, SocketOptions.originalDestination(ch), ch.remoteAddress()));
                        ch.close();
                    }
                })
                .bind(new InetSocketAddress(port)) // [::]:port, dual stack
                .sync()
                .channel();
        channels.add(server);
        return seen;
    }

    private void connect(PodNetns from, int mark, InetSocketAddress to, @Nullable InetSocketAddress local)
            throws Exception {
        Bootstrap b = new Bootstrap()
                .group(group)
                .channelFactory(NetnsChannelFactory.socket(from, mark))
                .handler(new ChannelInboundHandlerAdapter());
        Channel c =
                (local == null ? b.connect(to) : b.connect(to, local)).sync().channel();
        channels.add(c);
    }

    /** A UDP socket on {@code port} (all addresses) in {@code netns}; the queue gets each datagram's sender. */
    private BlockingQueue<InetSocketAddress> listenUdp(PodNetns netns, int port) throws Exception {
        BlockingQueue<InetSocketAddress> seen = new LinkedBlockingQueue<>();
        Channel c = new Bootstrap()
                .group(group)
                .channelFactory(NetnsChannelFactory.datagram(netns, 0))
                .handler(new SimpleChannelInboundHandler<DatagramPacket>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket packet) {
                        seen.add(packet.sender());
                    }
                })
                .bind(new InetSocketAddress(port))
                .sync()
                .channel();
        channels.add(c);
        return seen;
    }

    private void sendUdp(PodNetns from, int mark, InetSocketAddress to) throws Exception {
        Channel c = new Bootstrap()
                .group(group)
                .channelFactory(NetnsChannelFactory.datagram(from, mark))
                .handler(new ChannelInboundHandlerAdapter())
                .bind(0)
                .sync()
                .channel();
        channels.add(c);
        c.writeAndFlush(new DatagramPacket(Unpooled.wrappedBuffer(new byte[] {1}), to))
                .sync();
    }

    private static Accepted next(BlockingQueue<Accepted> q) throws InterruptedException {
        Accepted a = q.poll(5, TimeUnit.SECONDS);
        assertThat(a).as("a connection within 5 s").isNotNull();
        return a;
    }

    @ParameterizedTest(name = "nftables={0}")
    @ValueSource(booleans = {false, true})
    void podTrafficIsRedirectedExactlyAsIstioDoes(boolean nft) throws Exception {
        try (TestNetns pod = TestNetns.create();
                TestNetns peer = TestNetns.create();
                PodNetns podNs = PodNetns.open(pod.path());
                PodNetns peerNs = PodNetns.open(peer.path())) {
            pod.exec("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer.name());
            pod.exec("ip", "addr", "add", POD_IP.getHostAddress() + "/24", "dev", "eth0");
            pod.exec("ip", "-6", "addr", "add", "fd00:71::2/64", "dev", "eth0", "nodad");
            pod.exec("ip", "link", "set", "eth0", "up");
            pod.exec("ip", "route", "add", PROBE.getHostAddress() + "/32", "dev", "eth0");
            peer.exec("ip", "addr", "add", PEER_IP.getHostAddress() + "/24", "dev", "eth0");
            peer.exec("ip", "addr", "add", PROBE.getHostAddress() + "/32", "dev", "eth0");
            peer.exec("ip", "-6", "addr", "add", "fd00:71::1/64", "dev", "eth0", "nodad");
            peer.exec("ip", "link", "set", "eth0", "up");

            RedirectSettings settings = RedirectSettings.defaults().withNativeNftables(nft);
            InpodRedirector.create(settings).apply(podNs, "test/traffic", InpodRuleSet.of(settings));

            BlockingQueue<Accepted> outbound = listen(podNs, 15001);
            BlockingQueue<Accepted> inbound = listen(podNs, 15006);
            BlockingQueue<Accepted> hbone = listen(podNs, 15008);
            BlockingQueue<Accepted> app = listen(podNs, 8080);
            BlockingQueue<Accepted> outside = listen(peerNs, 80);

            // Outbound from the pod to some IP:80 lands on 15001, which recovers IP:80.
            connect(podNs, 0, new InetSocketAddress(PEER_IP, 80), null);
            Accepted out = next(outbound);
            assertThat(out.originalDst()).contains(new InetSocketAddress(PEER_IP, 80));
            assertThat(outside.poll(200, TimeUnit.MILLISECONDS))
                    .as("not delivered directly")
                    .isNull();

            // IPv6 too.
            connect(podNs, 0, new InetSocketAddress(PEER_IP6, 80), null);
            assertThat(next(outbound).originalDst()).contains(new InetSocketAddress(PEER_IP6, 80));

            // The daemon's own sockets (mark 1337) are not redirected.
            connect(podNs, SocketOptions.DEFAULT_MARK, new InetSocketAddress(PEER_IP, 80), null);
            assertThat(next(outside).peer().getAddress()).isEqualTo(POD_IP);
            assertThat(outbound.poll(200, TimeUnit.MILLISECONDS)).isNull();

            // Inbound to the pod's IP:8080 lands on 15006, which recovers POD_IP:8080.
            connect(peerNs, 0, new InetSocketAddress(POD_IP, 8080), null);
            Accepted in = next(inbound);
            assertThat(in.originalDst()).contains(new InetSocketAddress(POD_IP, 8080));
            assertThat(in.peer().getAddress()).isEqualTo(PEER_IP);
            connect(peerNs, 0, new InetSocketAddress(POD_IP6, 8080), null);
            assertThat(next(inbound).originalDst()).contains(new InetSocketAddress(POD_IP6, 8080));
            assertThat(app.poll(200, TimeUnit.MILLISECONDS)).isNull();

            // HBONE on 15008 is reached directly.
            connect(peerNs, 0, new InetSocketAddress(POD_IP, 15008), null);
            Accepted h = next(hbone);
            assertThat(h.originalDst().orElse(new InetSocketAddress(POD_IP, 15008)))
                    .as("not rewritten")
                    .isEqualTo(new InetSocketAddress(POD_IP, 15008));
            assertThat(inbound.poll(200, TimeUnit.MILLISECONDS)).isNull();

            // DNS (capture is on by default, as in istio-cni): UDP and TCP to any resolver's port 53 land on 15053;
            // the daemon's own (marked) queries reach the resolver.
            BlockingQueue<InetSocketAddress> dnsUdp = listenUdp(podNs, 15053);
            BlockingQueue<Accepted> dnsTcp = listen(podNs, 15053);
            BlockingQueue<InetSocketAddress> resolverUdp = listenUdp(peerNs, 53);
            BlockingQueue<Accepted> resolverTcp = listen(peerNs, 53);
            sendUdp(podNs, 0, new InetSocketAddress(PEER_IP, 53));
            assertThat(dnsUdp.poll(5, TimeUnit.SECONDS)).as("UDP 53 captured").isNotNull();
            assertThat(resolverUdp.poll(200, TimeUnit.MILLISECONDS)).isNull();
            connect(podNs, 0, new InetSocketAddress(PEER_IP, 53), null);
            assertThat(next(dnsTcp).originalDst()).contains(new InetSocketAddress(PEER_IP, 53));
            connect(podNs, 0, new InetSocketAddress(PEER_IP6, 53), null);
            assertThat(next(dnsTcp).originalDst()).contains(new InetSocketAddress(PEER_IP6, 53));
            sendUdp(podNs, SocketOptions.DEFAULT_MARK, new InetSocketAddress(PEER_IP, 53));
            InetSocketAddress upstreamQuery = resolverUdp.poll(5, TimeUnit.SECONDS);
            assertThat(upstreamQuery).as("marked UDP 53 not captured").isNotNull();
            assertThat(upstreamQuery.getAddress()).isEqualTo(POD_IP);
            assertThat(dnsUdp.poll(200, TimeUnit.MILLISECONDS)).isNull();
            connect(podNs, SocketOptions.DEFAULT_MARK, new InetSocketAddress(PEER_IP, 53), null);
            assertThat(next(resolverTcp).peer().getAddress()).isEqualTo(POD_IP);
            assertThat(dnsTcp.poll(200, TimeUnit.MILLISECONDS)).isNull();

            // Kubelet probes (SNATed to 169.254.7.127 by the host) reach the app uncaptured.
            connect(peerNs, 0, new InetSocketAddress(POD_IP, 8080), new InetSocketAddress(PROBE, 0));
            Accepted probe = next(app);
            assertThat(probe.peer().getAddress()).isEqualTo(PROBE);
            assertThat(inbound.poll(200, TimeUnit.MILLISECONDS)).isNull();

            // Loopback stays uncaptured.
            connect(podNs, 0, new InetSocketAddress(InetAddress.ofLiteral("127.0.0.1"), 8080), null);
            assertThat(next(app).originalDst().orElse(null))
                    .isIn(null, new InetSocketAddress(InetAddress.ofLiteral("127.0.0.1"), 8080));

            // After removal nothing is redirected any more.
            InpodRedirector.create(settings).remove(podNs, "test/traffic");
            connect(podNs, 0, new InetSocketAddress(PEER_IP, 80), null);
            assertThat(next(outside).peer().getAddress()).isEqualTo(POD_IP);
            assertThat(outbound.poll(200, TimeUnit.MILLISECONDS)).isNull();
            for (Channel c : channels) {
                c.close().sync();
            }
            channels.clear();
        }
    }

    /**
     * Why the node agent stops the capture first and removes the rest of the rules only after the daemon closed the
     * pod's connections: while the pod's chains are there the kernel still translates a redirected connection, so
     * the listener's close reaches the app, and new connections already go straight out. (With every NAT rule gone
     * the kernel may stop tracking connections in the namespace and the app's connection never sees the close.)
     */
    @ParameterizedTest(name = "nftables={0}")
    @ValueSource(booleans = {false, true})
    void afterTheCaptureStopsACapturedConnectionStillSeesTheListenersCloseAndNewOnesGoDirect(boolean nft)
            throws Exception {
        try (TestNetns pod = TestNetns.create();
                TestNetns peer = TestNetns.create();
                PodNetns podNs = PodNetns.open(pod.path());
                PodNetns peerNs = PodNetns.open(peer.path())) {
            pod.exec("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer.name());
            pod.exec("ip", "addr", "add", POD_IP.getHostAddress() + "/24", "dev", "eth0");
            pod.exec("ip", "link", "set", "eth0", "up");
            peer.exec("ip", "addr", "add", PEER_IP.getHostAddress() + "/24", "dev", "eth0");
            peer.exec("ip", "link", "set", "eth0", "up");
            RedirectSettings settings = RedirectSettings.defaults().withNativeNftables(nft);
            InpodRedirector redirector = InpodRedirector.create(settings);
            redirector.apply(podNs, "test/close", InpodRuleSet.of(settings));
            InetSocketAddress outside = new InetSocketAddress(PEER_IP, 80);
            try (ServerSocket proxy = podNs.call(() -> new ServerSocket(15001));
                    ServerSocket direct = peerNs.call(() -> new ServerSocket(80));
                    Socket app = podNs.call(() -> connected(outside));
                    Socket proxied = proxy.accept()) {
                redirector.stopCapture(podNs, "test/close");

                try (Socket next = podNs.call(() -> connected(outside));
                        Socket reached = direct.accept()) {
                    assertThat(reached.getInetAddress())
                            .as("a new connection goes direct")
                            .isEqualTo(POD_IP);
                }
                proxied.close();
                app.setSoTimeout(5_000);
                assertThat(app.getInputStream().read())
                        .as("the captured connection's app sees the listener's close (a timeout fails)")
                        .isEqualTo(-1);
            } finally {
                redirector.remove(podNs, "test/close");
            }
        }
    }

    private static Socket connected(InetSocketAddress to) throws IOException {
        Socket s = new Socket();
        try {
            s.connect(to, 5_000);
            return s;
        } catch (IOException e) {
            s.close();
            throw e;
        }
    }
}
