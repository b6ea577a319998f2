package io.ztunnel.xds.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.ztunnel.xds.channel.AuthToken;
import io.ztunnel.xds.channel.ControlPlaneAddress;
import io.ztunnel.xds.channel.ControlPlaneEndpoint;
import io.ztunnel.xds.channel.RootCertificates;
import io.ztunnel.xds.proto.ca.IstioCertificateRequest;
import io.ztunnel.xds.proto.ca.IstioCertificateResponse;
import io.ztunnel.xds.proto.ca.IstioCertificateServiceGrpc;
import io.ztunnel.xds.testing.FakeIstiod;
import io.ztunnel.xds.testing.TestCertificates;
import java.io.ByteArrayInputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The CA client against {@link FakeIstiod}'s CA over real TLS on loopback. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class IstioCaClientTest {
    static final String IDENTITY = "spiffe://cluster.local/ns/default/sa/app";

    @TempDir
    Path dir;

    EventLoopGroup group;
    FakeIstiod istiod;
    IstioCaClient client;
    Path token;

    @BeforeEach
    void setUp() throws Exception {
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        istiod = FakeIstiod.startTls();
        token = Files.writeString(dir.resolve("token"), "token-1");
        client = IstioCaClient.create(ControlPlaneEndpoint.builder(ControlPlaneAddress.parse(istiod.address()))
                .roots(RootCertificates.file(istiod.writeRoot(dir.resolve("root.pem"))))
                .token(AuthToken.file(token))
                .clusterId("cluster-1")
                .header("X-Ca-Extra", "v")
                .eventLoop(group, NioSocketChannel.class)
                .build());
    }

    @AfterEach
    void tearDown() throws Exception {
        client.close();
        istiod.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }

    static X509Certificate parse(String pem) throws Exception {
        return (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
    }

    static String uriSan(X509Certificate cert) throws Exception {
        return cert.getSubjectAlternativeNames().stream()
                .filter(san -> (Integer) san.get(0) == 6)
                .map(san -> (String) san.get(1))
                .findFirst()
                .orElseThrow();
    }

    @Test
    void sendsCsrValidityAndImpersonationAndReturnsLeafFirstRootLast() throws Exception {
        TestCertificates.Csr csr = TestCertificates.newCsr(IDENTITY);
        List<String> chain = client.createCertificate(
                        CertificateRequest.impersonating(csr.pem(), Duration.ofHours(24), IDENTITY))
                .get(20, TimeUnit.SECONDS);

        assertThat(chain).hasSize(2);
        X509Certificate leaf = parse(chain.get(0));
        assertThat(uriSan(leaf)).isEqualTo(IDENTITY);
        assertThat(chain.get(1)).isEqualTo(istiod.rootPem());
        leaf.verify(istiod.root().getPublicKey());

        FakeIstiod.CaRequest recorded = istiod.caRequests().getFirst();
        assertThat(recorded.request().getCsr()).isEqualTo(csr.pem());
        assertThat(recorded.request().getValidityDuration()).isEqualTo(86_400);
        assertThat(recorded.request().getMetadata().getFieldsMap()).containsOnlyKeys("ImpersonatedIdentity");
        assertThat(recorded.request()
                        .getMetadata()
                        .getFieldsOrThrow("ImpersonatedIdentity")
                        .getStringValue())
                .isEqualTo(IDENTITY);

        FakeIstiod.CallRecord call =
                istiod.callHeaders(m -> m.endsWith("CreateCertificate")).getFirst();
        assertThat(call.method()).isEqualTo("istio.v1.auth.IstioCertificateService/CreateCertificate");
        assertThat(call.authorization()).isEqualTo("Bearer token-1");
        assertThat(call.header("clusterid")).isEqualTo("cluster-1");
        assertThat(call.header("x-ca-extra")).isEqualTo("v");
    }

    @Test
    void sendsNoMetadataWithoutImpersonation() throws Exception {
        TestCertificates.Csr csr = TestCertificates.newCsr(IDENTITY);
        List<String> chain = client.createCertificate(CertificateRequest.forSelf(csr.pem(), Duration.ofMinutes(90)))
                .get(20, TimeUnit.SECONDS);
        assertThat(uriSan(parse(chain.getFirst()))).isEqualTo(IDENTITY);
        assertThat(istiod.caRequests().getFirst().request().hasMetadata()).isFalse();
        assertThat(istiod.caRequests().getFirst().request().getValidityDuration())
                .isEqualTo(5400);
    }

    @Test
    void usesTheRotatedTokenOnTheNextRequest() throws Exception {
        String csr = TestCertificates.newCsr(IDENTITY).pem();
        client.createCertificate(CertificateRequest.forSelf(csr, Duration.ofHours(1)))
                .get(20, TimeUnit.SECONDS);
        Files.writeString(token, "token-2\n");
        client.createCertificate(CertificateRequest.forSelf(csr, Duration.ofHours(1)))
                .get(20, TimeUnit.SECONDS);
        assertThat(istiod.callHeaders(m -> m.endsWith("CreateCertificate")))
                .extracting(FakeIstiod.CallRecord::authorization)
                .containsExactly("Bearer token-1", "Bearer token-2");
    }

    @Test
    void returnsTheChainEvenWithAWrongSanForTheCallerToCheck() throws Exception {
        istiod.caMode(FakeIstiod.CaMode.WRONG_SAN);
        List<String> chain = client.createCertificate(CertificateRequest.impersonating(
                        TestCertificates.newCsr(IDENTITY).pem(), Duration.ofHours(1), IDENTITY))
                .get(20, TimeUnit.SECONDS);
        assertThat(uriSan(parse(chain.getFirst()))).isEqualTo(FakeIstiod.WRONG_IDENTITY);
    }

    @Test
    void rejectsAChainWithoutRoot() {
        istiod.caMode(FakeIstiod.CaMode.NO_ROOT);
        assertThatThrownBy(() -> client.createCertificate(CertificateRequest.impersonating(
                                TestCertificates.newCsr(IDENTITY).pem(), Duration.ofHours(1), IDENTITY))
                        .get(20, TimeUnit.SECONDS))
                .isInstanceOf(ExecutionException.class)
                .cause()
                .isInstanceOf(CaException.class)
                .hasMessageContaining("no root certificate present")
                .hasMessageContaining(IDENTITY);
    }

    @Test
    void reportsAnErrorStatus() {
        istiod.caMode(FakeIstiod.CaMode.ERROR);
        ExecutionException e = assertThrows(
                ExecutionException.class,
                () -> client.createCertificate(CertificateRequest.impersonating(
                                TestCertificates.newCsr(IDENTITY).pem(), Duration.ofHours(1), IDENTITY))
                        .get(20, TimeUnit.SECONDS));
        assertThat(e.getCause()).isInstanceOfSatisfying(CaException.class, ca -> {
            assertThat(ca.code()).isEqualTo(Status.Code.PERMISSION_DENIED);
            assertThat(ca)
                    .hasMessageContaining("refused the certificate request for " + IDENTITY)
                    .hasMessageContaining("PERMISSION_DENIED: fake CA told to refuse");
        });
    }

    @Test
    void reportsAnUnreachableCa() throws Exception {
        int freePort;
        try (ServerSocket s = new ServerSocket(0)) {
            freePort = s.getLocalPort();
        }
        try (IstioCaClient unreachable = IstioCaClient.create(
                ControlPlaneEndpoint.builder(ControlPlaneAddress.parse("https://127.0.0.1:" + freePort))
                        .eventLoop(group, NioSocketChannel.class)
                        .build())) {
            ExecutionException e = assertThrows(
                    ExecutionException.class,
                    () -> unreachable
                            .createCertificate(CertificateRequest.forSelf(
                                    TestCertificates.newCsr(IDENTITY).pem(), Duration.ofHours(1)))
                            .get(20, TimeUnit.SECONDS));
            assertThat(e.getCause())
                    .isInstanceOfSatisfying(
                            CaException.class, ca -> assertThat(ca.code()).isEqualTo(Status.Code.UNAVAILABLE));
        }
    }

    @Test
    void validatesRequests() {
        assertThatThrownBy(() -> CertificateRequest.forSelf("not a csr", Duration.ofHours(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("csrPem");
        String csr = TestCertificates.newCsr(IDENTITY).pem();
        assertThatThrownBy(() -> CertificateRequest.forSelf(csr, Duration.ofMillis(10)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("validity");
        assertThatThrownBy(() -> CertificateRequest.impersonating(csr, Duration.ofHours(1), " "))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void failsRequestsAfterClose() {
        client.close();
        assertThatThrownBy(() -> client.createCertificate(CertificateRequest.forSelf(
                                TestCertificates.newCsr(IDENTITY).pem(), Duration.ofHours(1)))
                        .get(5, TimeUnit.SECONDS))
                .hasCauseInstanceOf(CaException.class);
    }

    @Test
    void closeFailsARequestStillOnTheWirePromptly() throws Exception {
        CountDownLatch received = new CountDownLatch(1);
        Server silent = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(new IstioCertificateServiceGrpc.IstioCertificateServiceImplBase() {
                    @Override
                    public void createCertificate(
                            IstioCertificateRequest request, StreamObserver<IstioCertificateResponse> observer) {
                        received.countDown(); // a slow istiod: never answers
                    }
                })
                .build()
                .start();
        try {
            IstioCaClient slow = IstioCaClient.create(
                    ControlPlaneEndpoint.builder(ControlPlaneAddress.parse("http://127.0.0.1:" + silent.getPort()))
                            .eventLoop(group, NioSocketChannel.class)
                            .build());
            var inFlight = slow.createCertificate(
                    CertificateRequest.forSelf(TestCertificates.newCsr(IDENTITY).pem(), Duration.ofHours(1)));
            assertThat(received.await(10, TimeUnit.SECONDS)).isTrue();
            long start = System.nanoTime();
            slow.close();
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(3));
            assertThatThrownBy(() -> inFlight.get(5, TimeUnit.SECONDS)).hasCauseInstanceOf(CaException.class);
        } finally {
            silent.shutdownNow();
        }
    }
}
