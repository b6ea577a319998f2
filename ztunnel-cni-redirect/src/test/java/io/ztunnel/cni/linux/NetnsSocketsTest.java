package io.ztunnel.cni.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelException;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.unix.UnixChannel;
import io.netty.util.ReferenceCountUtil;
import io.ztunnel.cni.testing.NoFdLeaks;
import io.ztunnel.cni.testing.RequiresNetns;
import io.ztunnel.cni.testing.TestNetns;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Root tests against real network namespaces made by the test: sockets from {@link
 * NetnsChannelFactory} live in the pod namespace and carry the mark, SO_ORIGINAL_DST sees through
 * REDIRECT, transparent sockets can use a foreign source address, {@link PodNetns} identity and
 * {@link Capabilities}.
 */
@RequiresNetns(tools = {"iptables", "ip6tables"})
@ExtendWith(NoFdLeaks.class)
class NetnsSocketsTest {
    private static final int MARK = SocketOptions.DEFAULT_MARK;

    private EventLoopGroup group;

    @BeforeEach
    void startEventLoop() {
        group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    }

    @AfterEach
    void stopEventLoop() throws Exception {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    @Test
    void tasksRunOnAThreadInsideTheNamespace() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            String inside = netns.call(() ->
                    Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net")).toString());
            assertThat(inside).isEqualTo("net:[" + netns.id().inode() + "]");
            Thread thread = netns.call(Thread::currentThread);
            assertThat(thread.isVirtual()).isFalse();
            assertThat(thread).isNotSameAs(Thread.currentThread());
            String here =
                    Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net")).toString();
            assertThat(here).as("the caller's namespace is unchanged").isNotEqualTo(inside);
        }
    }

    @Test
    void identityIsEqualForTwoOpensOfOneNamespaceAndDiffersBetweenNamespaces() throws Exception {
        try (TestNetns a = TestNetns.create();
                TestNetns b = TestNetns.create();
                PodNetns a1 = PodNetns.open(a.path());
                PodNetns a2 = PodNetns.open(a.path());
                PodNetns b1 = PodNetns.open(b.path());
                PodNetns host = PodNetns.openCurrent()) {
            assertThat(a1.id()).isEqualTo(a2.id());
            assertThat(a1.id()).isNotEqualTo(b1.id());
            assertThat(a1.id()).isNotEqualTo(host.id());
        }
    }

    @Test
    void listenerFromTheFactoryLivesInThePodNamespaceAndCarriesTheMark() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            ns.exec("ip", "addr", "add", "10.250.0.1/32", "dev", "lo");
            InetSocketAddress podOnly = new InetSocketAddress(InetAddress.getByName("10.250.0.1"), 15008);

            CompletableFuture<int[]> acceptedMark = new CompletableFuture<>();
            Channel server = new ServerBootstrap()
                    .group(group)
                    .channelFactory(NetnsChannelFactory.serverSocket(netns, MARK, true))
                    .childHandler(new ChannelInitializer<EpollSocketChannel>() {
                        @Override
                        protected void initChannel(EpollSocketChannel ch) throws Exception {
                            acceptedMark.complete(
                                    new int[] {SocketOptions.mark(ch.fd().intValue())});
                        }
                    })
                    .bind(podOnly)
                    .sync()
                    .channel();
            try {
                int serverFd = ((UnixChannel) server).fd().intValue();
                assertThat(SocketOptions.mark(serverFd)).isEqualTo(MARK);
                assertThat(SocketOptions.getInt(serverFd, Libc.SOL_SOCKET, 15, "SO_REUSEPORT"))
                        .isEqualTo(1);

                // The address exists only in the pod namespace: the host cannot bind it.
                assertThatThrownBy(() -> new ServerBootstrap()
                                .group(group)
                                .channelFactory(NetnsChannelFactory.hostServerSocket(MARK, false))
                                .childHandler(new ChannelInboundHandlerAdapter())
                                .bind(podOnly)
                                .sync())
                        .hasMessageContaining("Cannot assign requested address");

                Channel client = new Bootstrap()
                        .group(group)
                        .channelFactory(NetnsChannelFactory.socket(netns, MARK))
                        .handler(new ChannelInboundHandlerAdapter())
                        .connect(podOnly)
                        .sync()
                        .channel();
                try {
                    assertThat(SocketOptions.mark(
                                    ((EpollSocketChannel) client).fd().intValue()))
                            .isEqualTo(MARK);
                    assertThat(acceptedMark.get(5, TimeUnit.SECONDS)[0])
                            .as("accepted sockets inherit the listener's mark")
                            .isEqualTo(MARK);
                } finally {
                    client.close().sync();
                }
            } finally {
                server.close().sync();
            }
        }
    }

    @Test
    void originalDestinationIsThePreRedirectAddressForIpv4() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            ns.addInterface("10.251.0.1/24");
            ns.exec(
                    "iptables",
                    "-t",
                    "nat",
                    "-A",
                    "OUTPUT",
                    "-p",
                    "tcp",
                    "-d",
                    "10.251.0.99",
                    "--dport",
                    "80",
                    "-j",
                    "REDIRECT",
                    "--to-ports",
                    "15001");

            Optional<InetSocketAddress> seen =
                    originalDestinationSeenBy15001(netns, new InetSocketAddress("10.251.0.99", 80));
            assertThat(seen).contains(new InetSocketAddress(InetAddress.getByName("10.251.0.99"), 80));
        }
    }

    @Test
    void originalDestinationIsThePreRedirectAddressForIpv6() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            ns.addInterface("fd00:251::1/64");
            ns.exec(
                    "ip6tables",
                    "-t",
                    "nat",
                    "-A",
                    "OUTPUT",
                    "-p",
                    "tcp",
                    "-d",
                    "fd00:251::99",
                    "--dport",
                    "80",
                    "-j",
                    "REDIRECT",
                    "--to-ports",
                    "15001");

            Optional<InetSocketAddress> seen =
                    originalDestinationSeenBy15001(netns, new InetSocketAddress("fd00:251::99", 80));
            assertThat(seen).contains(new InetSocketAddress(InetAddress.getByName("fd00:251::99"), 80));
        }
    }

    @Test
    void originalDestinationIsEmptyForAConnectionThatWasNotRedirected() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            Optional<InetSocketAddress> seen =
                    originalDestinationSeenBy15001(netns, new InetSocketAddress("127.0.0.1", 15001));
            assertThat(seen).isEmpty();
        }
    }

    /** Listens on [::]:15001 in the netns, connects to {@code target} from inside, reads orig dst. */
    private Optional<InetSocketAddress> originalDestinationSeenBy15001(PodNetns netns, InetSocketAddress target)
            throws Exception {
        CompletableFuture<Optional<InetSocketAddress>> seen = new CompletableFuture<>();
        Channel server = new ServerBootstrap()
                .group(group)
                .channelFactory(NetnsChannelFactory.serverSocket(netns, MARK, true))
                .childHandler(new ChannelInitializer<EpollSocketChannel>() {
                    @Override
                    protected void initChannel(EpollSocketChannel ch) {
                        try {
                            seen.complete(SocketOptions.originalDestination(ch));
                        } catch (Exception e) {
                            seen.completeExceptionally(e);
                        }
                        ch.close();
                    }
                })
                .bind(new InetSocketAddress(15001))
                .sync()
                .channel();
        try {
            Channel client = new Bootstrap()
                    .group(group)
                    .channelFactory(NetnsChannelFactory.socket(netns, 0))
                    .handler(new ChannelInboundHandlerAdapter())
                    .connect(target)
                    .sync()
                    .channel();
            try {
                return seen.get(5, TimeUnit.SECONDS);
            } finally {
                client.close().sync();
            }
        } finally {
            server.close().sync();
        }
    }

    @Test
    void transparentFreebindSocketConnectsFromAForeignSourceAddress() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            ns.addInterface("10.252.0.1/24");
            // The in-pod rules that route replies to a spoofed source back to the marked socket.
            ns.exec(
                    "iptables",
                    "-t",
                    "mangle",
                    "-A",
                    "PREROUTING",
                    "-m",
                    "mark",
                    "--mark",
                    "0x539/0xfff",
                    "-j",
                    "CONNMARK",
                    "--set-xmark",
                    "0x111/0xfff");
            ns.exec(
                    "iptables",
                    "-t",
                    "mangle",
                    "-A",
                    "OUTPUT",
                    "-m",
                    "connmark",
                    "--mark",
                    "0x111/0xfff",
                    "-j",
                    "CONNMARK",
                    "--restore-mark",
                    "--nfmask",
                    "0xffffffff",
                    "--ctmask",
                    "0xffffffff");
            ns.exec("ip", "rule", "add", "fwmark", "0x111/0xfff", "pref", "32764", "lookup", "100");
            ns.exec("ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100");

            InetSocketAddress app = new InetSocketAddress(InetAddress.getByName("10.252.0.1"), 8080);
            InetSocketAddress spoofed = new InetSocketAddress(InetAddress.getByName("10.252.0.77"), 0);
            CompletableFuture<InetSocketAddress> peerSeenByApp = new CompletableFuture<>();
            Channel server = new ServerBootstrap()
                    .group(group)
                    .channelFactory(NetnsChannelFactory.serverSocket(netns, 0, false))
                    .childHandler(new ChannelInitializer<EpollSocketChannel>() {
                        @Override
                        protected void initChannel(EpollSocketChannel ch) {
                            peerSeenByApp.complete(ch.remoteAddress());
                        }
                    })
                    .bind(app)
                    .sync()
                    .channel();
            try {
                // Without IP_TRANSPARENT/IP_FREEBIND a foreign source address cannot be bound.
                assertThatThrownBy(() -> new Bootstrap()
                                .group(group)
                                .channelFactory(NetnsChannelFactory.socket(netns, MARK))
                                .handler(new ChannelInboundHandlerAdapter())
                                .connect(app, spoofed)
                                .sync())
                        .hasMessageContaining("Cannot assign requested address");

                Channel client = new Bootstrap()
                        .group(group)
                        .channelFactory(NetnsChannelFactory.socket(netns, MARK))
                        .option(SocketOptions.IP_TRANSPARENT, 1)
                        .option(SocketOptions.IP_FREEBIND, 1)
                        .handler(new DiscardHandler())
                        .connect(app, spoofed)
                        .sync()
                        .channel();
                try {
                    assertThat(((InetSocketAddress) client.localAddress()).getAddress())
                            .isEqualTo(spoofed.getAddress());
                    assertThat(peerSeenByApp.get(5, TimeUnit.SECONDS).getAddress())
                            .as("the app sees the spoofed client address")
                            .isEqualTo(spoofed.getAddress());
                } finally {
                    client.close().sync();
                }
            } finally {
                server.close().sync();
            }
        }
    }

    @Test
    void anEventLoopMakesItsSocketInsideTheNamespaceAndReturnsToItsOwn() throws Exception {
        try (TestNetns ns = TestNetns.create();
                PodNetns netns = PodNetns.open(ns.path())) {
            ns.exec("ip", "addr", "add", "10.250.0.1/32", "dev", "lo");
            InetSocketAddress podOnly = new InetSocketAddress(InetAddress.getByName("10.250.0.1"), 15009);
            Channel server = new ServerBootstrap()
                    .group(group)
                    .channelFactory(NetnsChannelFactory.serverSocket(netns, MARK, false))
                    .childHandler(new DiscardHandler())
                    .bind(podOnly)
                    .sync()
                    .channel();
            try {
                EventLoop loop = group.next();
                Path self = Path.of("/proc/thread-self/ns/net");
                String before = loop.submit(() -> Files.readSymbolicLink(self).toString())
                        .get(5, TimeUnit.SECONDS);
                // Connected from the loop itself, so the factory runs on the loop: the address exists only inside.
                Channel client = loop.submit(() -> new Bootstrap()
                                .group(loop)
                                .channelFactory(NetnsChannelFactory.socket(netns, MARK))
                                .handler(new ChannelInboundHandlerAdapter())
                                .connect(podOnly))
                        .get(5, TimeUnit.SECONDS)
                        .sync()
                        .channel();
                try {
                    assertThat(SocketOptions.mark(
                                    ((EpollSocketChannel) client).fd().intValue()))
                            .isEqualTo(MARK);
                    String after = loop.submit(
                                    () -> Files.readSymbolicLink(self).toString())
                            .get(5, TimeUnit.SECONDS);
                    assertThat(after)
                            .as("the loop is back in its own namespace")
                            .isEqualTo(before);
                    assertThat(after).isNotEqualTo("net:[" + netns.id().inode() + "]");
                } finally {
                    client.close().sync();
                }
            } finally {
                server.close().sync();
            }
        }
    }

    @Test
    void factoryFailsWithAClearErrorWhenTheNamespaceIsClosed() throws Exception {
        PodNetns netns;
        try (TestNetns ns = TestNetns.create()) {
            netns = PodNetns.open(ns.path());
        }
        netns.close();
        assertThatThrownBy(() -> NetnsChannelFactory.socket(netns, MARK).newChannel())
                .isInstanceOf(ChannelException.class)
                .hasMessageContaining("cannot create socket in netns " + netns.id())
                .hasMessageContaining("closed");
    }

    @Test
    void capabilityCheckPassesAsRootAndNamesEachMissingCapability() throws Exception {
        assertThatCode(() -> Capabilities.check(MARK)).doesNotThrowAnyException();
        // Capabilities are per thread on Linux: each check below runs on a thread of its own that lacks some, and
        // the threads it starts (PodNetns's) inherit that.
        assertThat(withoutCapabilities(CAP_NET_ADMIN, CAP_NET_RAW))
                .isInstanceOf(Capabilities.MissingCapabilityException.class)
                .hasMessageContaining("cannot set SO_MARK " + MARK)
                .hasMessageContaining("CAP_NET_ADMIN");
        assertThat(withoutCapabilities(CAP_SYS_ADMIN))
                .isInstanceOf(Capabilities.MissingCapabilityException.class)
                .hasMessageContaining("cannot enter a network namespace")
                .hasMessageContaining("CAP_SYS_ADMIN");
    }

    private static final int CAP_NET_ADMIN = 12;
    private static final int CAP_NET_RAW = 13;
    private static final int CAP_SYS_ADMIN = 21;
    private static final int LINUX_CAPABILITY_VERSION_3 = 0x20080522;

    /**
     * Runs {@link Capabilities#check} on a new thread with {@code caps} removed from its effective set (capset(2) on
     * that thread only), and returns what it threw, or {@code null}.
     */
    private static Throwable withoutCapabilities(int... caps) throws Exception {
        CompletableFuture<Throwable> thrown = new CompletableFuture<>();
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                dropEffective(caps);
                Capabilities.check(MARK);
                thrown.complete(null);
            } catch (Throwable e) {
                thrown.complete(e);
            }
        });
        Throwable result = thrown.get(30, TimeUnit.SECONDS);
        t.join();
        return result;
    }

    private static void dropEffective(int... caps) throws Throwable {
        Linker linker = Linker.nativeLinker();
        FunctionDescriptor sig = FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS);
        MethodHandle capget = linker.downcallHandle(linker.defaultLookup().findOrThrow("capget"), sig);
        MethodHandle capset = linker.downcallHandle(linker.defaultLookup().findOrThrow("capset"), sig);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment header = arena.allocate(8, 4); // { u32 version; int pid (0: this thread) }
            header.set(ValueLayout.JAVA_INT, 0, LINUX_CAPABILITY_VERSION_3);
            MemorySegment data = arena.allocate(24, 4); // two { u32 effective, permitted, inheritable }
            assertThat((int) capget.invokeExact(header, data)).as("capget").isZero();
            int effective = data.get(ValueLayout.JAVA_INT, 0);
            for (int cap : caps) {
                effective &= ~(1 << cap);
            }
            data.set(ValueLayout.JAVA_INT, 0, effective);
            assertThat((int) capset.invokeExact(header, data)).as("capset").isZero();
        }
    }

    /** Releases whatever arrives (nothing is expected). */
    private static final class DiscardHandler extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
        }
    }
}
