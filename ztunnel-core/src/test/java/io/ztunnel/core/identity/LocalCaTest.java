package io.ztunnel.core.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.cert.X509Certificate;
import java.security.interfaces.ECPublicKey;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionException;
import org.bouncycastle.asn1.x509.Extension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LocalCaTest {
    private static final SpiffeId ID = SpiffeId.parse("spiffe://cluster.local/ns/default/sa/app");

    @TempDir
    Path dir;

    @Test
    void generatesAnEcRootInAnEmptyDirectoryOnceAndReusesItOnRestart() throws Exception {
        LocalCa first = LocalCa.loadOrCreate(dir, Clock.systemUTC());
        assertThat(dir.resolve("ca-cert.pem")).exists();
        assertThat(dir.resolve("root-cert.pem")).exists();
        assertThat(Files.getPosixFilePermissions(dir.resolve("ca-key.pem")))
                .containsExactlyInAnyOrder(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);
        X509Certificate root = first.roots().getFirst();
        assertThat(root.getPublicKey()).isInstanceOf(ECPublicKey.class);
        assertThat(root.getBasicConstraints()).isGreaterThanOrEqualTo(0);

        LocalCa restarted = LocalCa.loadOrCreate(dir, Clock.systemUTC());
        assertThat(restarted.roots()).containsExactly(root);
    }

    @Test
    void workloadCertificateHasExactlyTheShapeIstioExpects() throws Exception {
        LocalCa ca = LocalCa.loadOrCreate(dir, Clock.systemUTC());
        WorkloadCertificate cert = TestPki.issue(ca, ID, Duration.ofHours(24));
        X509Certificate leaf = cert.leaf();
        assertThat(leaf.getSubjectX500Principal().getName()).isEmpty();
        assertThat(Certificates.uriSans(leaf)).containsExactly(ID.toString());
        assertThat(leaf.getSubjectAlternativeNames()).hasSize(1);
        assertThat(leaf.getCriticalExtensionOIDs()).contains(Extension.subjectAlternativeName.getId());
        assertThat(leaf.getExtendedKeyUsage()).containsExactlyInAnyOrder("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2");
        assertThat(leaf.getBasicConstraints()).isEqualTo(-1);
        assertThat(leaf.getPublicKey()).isInstanceOf(ECPublicKey.class);
        assertThat(((ECPublicKey) leaf.getPublicKey())
                        .getParams()
                        .getCurve()
                        .getField()
                        .getFieldSize())
                .isEqualTo(256);
        assertThat(Duration.between(
                        leaf.getNotBefore().toInstant(), leaf.getNotAfter().toInstant()))
                .isBetween(Duration.ofHours(24), Duration.ofHours(24).plusMinutes(2));
        assertThat(cert.chain()).hasSize(1);
        leaf.verify(ca.roots().getFirst().getPublicKey());
    }

    @Test
    void twoDaemonsOnTheSameFilesIssueCertificatesTheOtherTrusts() throws Exception {
        LocalCa a = LocalCa.loadOrCreate(dir, Clock.systemUTC());
        LocalCa b = LocalCa.loadOrCreate(dir, Clock.systemUTC());
        WorkloadCertificate fromB = TestPki.issue(b, ID, Duration.ofHours(1));
        SpiffeTrustManager trustOfA = new SpiffeTrustManager(a.roots(), "cluster.local");
        trustOfA.checkClientTrusted(fromB.chain().toArray(new X509Certificate[0]), "ECDHE_ECDSA");
    }

    @Test
    void usesAnOperatorsRsaIntermediateWithItsChain() throws Exception {
        TestPki.Ca root = TestPki.root("CN=corp root", TestPki.rsa());
        TestPki.Ca intermediate = TestPki.intermediate("CN=mesh intermediate", TestPki.rsa(), root);
        TestPki.writePluginCa(
                dir,
                intermediate,
                new X509Certificate[] {intermediate.certificate(), root.certificate()},
                root.certificate());

        LocalCa ca = LocalCa.loadOrCreate(dir, Clock.systemUTC());
        WorkloadCertificate cert = TestPki.issue(ca, ID, Duration.ofHours(1));

        assertThat(cert.chain()).hasSize(2);
        assertThat(cert.chain().get(1)).isEqualTo(intermediate.certificate());
        assertThat(cert.roots()).containsExactly(root.certificate());
        new SpiffeTrustManager(List.of(root.certificate()), "cluster.local")
                .checkClientTrusted(cert.chain().toArray(new X509Certificate[0]), "RSA");
    }

    @Test
    void findsTheRootAtTheEndOfTheChainWhenRootCertIsAbsent() throws Exception {
        TestPki.Ca root = TestPki.root("CN=corp root", Csr.newP256KeyPair());
        TestPki.Ca intermediate = TestPki.intermediate("CN=mesh intermediate", Csr.newP256KeyPair(), root);
        TestPki.writePluginCa(
                dir, intermediate, new X509Certificate[] {intermediate.certificate(), root.certificate()}, null);

        assertThat(LocalCa.loadOrCreate(dir, Clock.systemUTC()).roots()).containsExactly(root.certificate());
    }

    @Test
    void rejectsAnIntermediateThatDoesNotChainToTheRoot() throws Exception {
        TestPki.Ca root = TestPki.root("CN=corp root", Csr.newP256KeyPair());
        TestPki.Ca otherRoot = TestPki.root("CN=other root", Csr.newP256KeyPair());
        TestPki.Ca intermediate = TestPki.intermediate("CN=mesh intermediate", Csr.newP256KeyPair(), root);
        TestPki.writePluginCa(dir, intermediate, null, otherRoot.certificate());

        assertThatThrownBy(() -> LocalCa.loadOrCreate(dir, Clock.systemUTC()))
                .hasMessageContaining("does not chain to a root");
    }

    @Test
    void rejectsAKeyThatDoesNotMatchTheCertificateNamingTheFile() throws Exception {
        TestPki.Ca root = TestPki.root("CN=corp root", Csr.newP256KeyPair());
        TestPki.writePluginCa(dir, new TestPki.Ca(Csr.newP256KeyPair(), root.certificate()), null, null);

        assertThatThrownBy(() -> LocalCa.loadOrCreate(dir, Clock.systemUTC()))
                .hasMessageContaining("ca-key.pem does not match");
    }

    @Test
    void rejectsHalfACaNamingTheMissingFile() throws Exception {
        TestPki.Ca root = TestPki.root("CN=corp root", Csr.newP256KeyPair());
        TestPki.writePluginCa(dir, root, null, null);
        Files.delete(dir.resolve("ca-key.pem"));

        assertThatThrownBy(() -> LocalCa.loadOrCreate(dir, Clock.systemUTC()))
                .hasMessageContaining("ca-key.pem is missing");
    }

    @Test
    void refusesARequestWhoseSanIsNotTheRequestedIdentity() {
        LocalCa ca = LocalCa.loadOrCreate(dir, Clock.systemUTC());
        String csr = Csr.create(SpiffeId.parse("spiffe://cluster.local/ns/other/sa/x"), Csr.newP256KeyPair());

        assertThatThrownBy(() -> ca.sign(ID, csr, Duration.ofHours(1))
                        .toCompletableFuture()
                        .join())
                .isInstanceOf(CompletionException.class)
                .hasMessageContaining("do not match the requested identity");
    }
}
