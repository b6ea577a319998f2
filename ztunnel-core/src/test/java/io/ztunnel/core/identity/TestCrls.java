package io.ztunnel.core.identity;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import org.bouncycastle.asn1.x509.CRLReason;
import org.bouncycastle.cert.X509v2CRLBuilder;
import org.bouncycastle.cert.jcajce.JcaX509v2CRLBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** Certificate revocation lists for tests, signed with BouncyCastle by a test CA. */
public final class TestCrls {
    private TestCrls() {}

    /** The issuing certificate and key of a local CA directory ({@code ca-cert.pem}, {@code ca-key.pem}). */
    public static TestPki.Ca caOf(Path caDir) throws IOException {
        X509Certificate cert = Pem.certificates(Files.readString(caDir.resolve("ca-cert.pem")), "ca-cert.pem")
                .getFirst();
        PrivateKey key = Pem.privateKey(Files.readString(caDir.resolve("ca-key.pem")), "ca-key.pem");
        return new TestPki.Ca(new KeyPair(cert.getPublicKey(), key), cert);
    }

    /** A DER CRL issued by {@code issuer} revoking {@code serials} (none: an empty CRL). */
    public static byte[] der(TestPki.Ca issuer, BigInteger... serials) throws Exception {
        Instant now = Instant.now();
        X509v2CRLBuilder b = new JcaX509v2CRLBuilder(
                issuer.certificate().getSubjectX500Principal(), Date.from(now.minus(Duration.ofMinutes(1))));
        b.setNextUpdate(Date.from(now.plus(Duration.ofDays(1))));
        for (BigInteger serial : serials) {
            b.addCRLEntry(serial, Date.from(now.minus(Duration.ofMinutes(1))), CRLReason.keyCompromise);
        }
        PrivateKey key = issuer.keyPair().getPrivate();
        return b.build(new JcaContentSignerBuilder(LocalCa.signatureAlgorithm(key)).build(key))
                .getEncoded();
    }

    /** A CRL in PEM. */
    public static String pem(byte[] der) {
        return "-----BEGIN X509 CRL-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
                        .encodeToString(der)
                + "\n-----END X509 CRL-----\n";
    }

    /** Replaces {@code file} atomically (as a ConfigMap update or an editor would). */
    public static void write(Path file, byte[] content) throws IOException {
        Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), ".crl", ".tmp");
        Files.write(tmp, content);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    public static void write(Path file, String content) throws IOException {
        write(file, content.getBytes(StandardCharsets.US_ASCII));
    }
}
