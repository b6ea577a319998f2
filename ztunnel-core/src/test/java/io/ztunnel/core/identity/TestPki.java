package io.ztunnel.core.identity;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.jspecify.annotations.Nullable;

/** Builds CA hierarchies for tests (an "operator's own CA" with RSA or EC keys, with or without an intermediate). */
public final class TestPki {
    private TestPki() {}

    public record Ca(KeyPair keyPair, X509Certificate certificate) {}

    public static KeyPair rsa() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
        g.initialize(2048);
        return g.generateKeyPair();
    }

    public static Ca root(String name, KeyPair keyPair) throws Exception {
        return new Ca(keyPair, caCertificate(name, keyPair, name, keyPair));
    }

    public static Ca intermediate(String name, KeyPair keyPair, Ca issuer) throws Exception {
        return new Ca(
                keyPair,
                caCertificate(
                        name,
                        keyPair,
                        issuer.certificate().getSubjectX500Principal().getName(),
                        issuer.keyPair()));
    }

    private static X509Certificate caCertificate(String subject, KeyPair subjectKeys, String issuer, KeyPair issuerKeys)
            throws Exception {
        Instant now = Instant.now();
        X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(
                new X500Name(issuer),
                new BigInteger(64, new SecureRandom()),
                Date.from(now.minus(Duration.ofHours(1))),
                Date.from(now.plus(Duration.ofDays(30))),
                new X500Name(subject),
                subjectKeys.getPublic());
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
        return new JcaX509CertificateConverter()
                .getCertificate(b.build(new JcaContentSignerBuilder(LocalCa.signatureAlgorithm(issuerKeys.getPrivate()))
                        .build(issuerKeys.getPrivate())));
    }

    /** Writes a plug-in CA directory: the signing CA, its key, and optionally chain and root files. */
    public static void writePluginCa(
            Path dir, Ca signing, X509Certificate @Nullable [] chain, @Nullable X509Certificate root) throws Exception {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("ca-cert.pem"), Pem.encode(signing.certificate()), StandardCharsets.US_ASCII);
        Files.writeString(
                dir.resolve("ca-key.pem"),
                signing.keyPair().getPrivate().getAlgorithm().equals("RSA")
                        ? Pem.write(signing.keyPair().getPrivate())
                        : Pem.encodePkcs8(signing.keyPair().getPrivate()),
                StandardCharsets.US_ASCII);
        if (chain != null) {
            Files.writeString(dir.resolve("cert-chain.pem"), Pem.encode(List.of(chain)), StandardCharsets.US_ASCII);
        }
        if (root != null) {
            Files.writeString(dir.resolve("root-cert.pem"), Pem.encode(root), StandardCharsets.US_ASCII);
        }
    }

    /** Issues a certificate for {@code identity} from {@code ca} as the daemon would, returning the material. */
    public static WorkloadCertificate issue(LocalCa ca, SpiffeId identity, Duration ttl) {
        KeyPair keys = Csr.newP256KeyPair();
        IssuedChain chain = ca.sign(identity, Csr.create(identity, keys), ttl)
                .toCompletableFuture()
                .join();
        return new WorkloadCertificate(identity, keys.getPrivate(), chain.leafAndIntermediates(), chain.roots());
    }

    /** A chain for {@code identity} with a throw-away key (what a misbehaving CA might return). */
    public static IssuedChain issueChain(LocalCa ca, SpiffeId identity) {
        return ca.sign(identity, Csr.create(identity, Csr.newP256KeyPair()), Duration.ofHours(1))
                .toCompletableFuture()
                .join();
    }
}
