package io.ztunnel.xds.testing;

import io.ztunnel.xds.ErrorText;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.bouncycastle.asn1.pkcs.Attribute;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.PKCSException;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * A throw-away certificate authority for tests (BouncyCastle): an ECDSA P-256 root, serving
 * certificates for the fake istiod, workload certificates signed from CSRs, and CSRs themselves
 * (shaped like ztunnel's: empty subject, one critical URI SAN).
 *
 * <p>Thread-safe; every instance has its own root.
 */
public final class TestCertificates {
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final AtomicLong SERIAL = new AtomicLong(System.nanoTime());

    private final KeyPair rootKey;
    private final X509Certificate root;

    /** A key pair and its certificate. */
    public record Issued(PrivateKey key, X509Certificate certificate) {
        public String certificatePem() {
            return pem(certificate);
        }
    }

    /** A CSR and the private key it was made with. */
    public record Csr(String pem, PrivateKey key) {}

    /** Creates a CA with a fresh root named {@code commonName}. */
    public TestCertificates(String commonName) {
        this.rootKey = newKeyPair();
        X500Name name = new X500Name("O=cluster.local,CN=" + commonName);
        try {
            JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(
                            name,
                            serial(),
                            notBefore(),
                            Date.from(Instant.now().plus(Duration.ofDays(30))),
                            name,
                            rootKey.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(true))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
                    .addExtension(
                            Extension.subjectKeyIdentifier,
                            false,
                            utils.createSubjectKeyIdentifier(rootKey.getPublic()));
            this.root = sign(builder, rootKey.getPrivate());
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    public X509Certificate root() {
        return root;
    }

    public String rootPem() {
        return pem(root);
    }

    /** A serving certificate for the given DNS names and IP addresses. */
    public Issued issueServer(List<String> dnsNames, List<String> ips) {
        KeyPair key = newKeyPair();
        List<GeneralName> names = new ArrayList<>();
        dnsNames.forEach(d -> names.add(new GeneralName(GeneralName.dNSName, d)));
        ips.forEach(ip -> names.add(new GeneralName(GeneralName.iPAddress, ip)));
        try {
            X509v3CertificateBuilder builder = leafBuilder(
                            new X500Name("O=cluster.local,CN=istiod"), key.getPublic(), Duration.ofDays(1))
                    .addExtension(
                            Extension.subjectAlternativeName,
                            false,
                            new GeneralNames(names.toArray(GeneralName[]::new)))
                    .addExtension(
                            Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
            return new Issued(key.getPrivate(), sign(builder, rootKey.getPrivate()));
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A workload certificate for {@code spiffeId} over {@code publicKey}, as istiod would sign. */
    public X509Certificate issueWorkload(PublicKey publicKey, String spiffeId, Duration validity) {
        return issueWorkload(publicKey, spiffeId, validity, BACKDATE);
    }

    /** As {@link #issueWorkload(PublicKey, String, Duration)}, valid from {@code backdate} ago. */
    public X509Certificate issueWorkload(PublicKey publicKey, String spiffeId, Duration validity, Duration backdate) {
        try {
            X509v3CertificateBuilder builder = leafBuilder(
                            new X500Name("O=cluster.local"),
                            publicKey,
                            Date.from(Instant.now().minus(backdate)),
                            validity)
                    .addExtension(
                            Extension.subjectAlternativeName,
                            true,
                            new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, spiffeId)))
                    .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(new KeyPurposeId[] {
                        KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth
                    }));
            return sign(builder, rootKey.getPrivate());
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A CSR shaped like ztunnel's: empty subject, one critical URI SAN, SHA256withECDSA. */
    public static Csr newCsr(String spiffeId) {
        KeyPair key = newKeyPair();
        try {
            Extensions extensions = new Extensions(new Extension(
                    Extension.subjectAlternativeName,
                    true,
                    new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, spiffeId)).getEncoded()));
            PKCS10CertificationRequest csr = new JcaPKCS10CertificationRequestBuilder(
                            new X500Name(new RDN[0]), key.getPublic())
                    .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, extensions)
                    .build(new JcaContentSignerBuilder("SHA256withECDSA").build(key.getPrivate()));
            return new Csr(pem(csr), key.getPrivate());
        } catch (IOException | OperatorCreationException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A parsed and signature-checked CSR. */
    public record ParsedCsr(PublicKey publicKey, List<String> uriSans) {}

    /**
     * Parses a PEM CSR and checks its signature.
     *
     * @throws IllegalArgumentException if it is not a valid, correctly signed CSR
     */
    public static ParsedCsr parseCsr(String pem) {
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            Object object = parser.readObject();
            if (!(object instanceof PKCS10CertificationRequest csr)) {
                throw new IllegalArgumentException("not a PEM certificate request");
            }
            if (!csr.isSignatureValid(new JcaContentVerifierProviderBuilder().build(csr.getSubjectPublicKeyInfo()))) {
                throw new IllegalArgumentException("CSR signature is invalid");
            }
            List<String> uris = new ArrayList<>();
            for (Attribute attribute : csr.getAttributes(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest)) {
                Extensions extensions =
                        Extensions.getInstance(attribute.getAttrValues().getObjectAt(0));
                GeneralNames names = GeneralNames.fromExtensions(extensions, Extension.subjectAlternativeName);
                if (names != null) {
                    for (GeneralName n : names.getNames()) {
                        if (n.getTagNo() == GeneralName.uniformResourceIdentifier) {
                            uris.add(n.getName().toString());
                        }
                    }
                }
            }
            PublicKey key = new JcaPEMKeyConverter().getPublicKey(csr.getSubjectPublicKeyInfo());
            return new ParsedCsr(key, uris);
        } catch (IOException | OperatorCreationException | PKCSException | RuntimeException e) {
            if (e instanceof IllegalArgumentException iae) {
                throw iae;
            }
            throw new IllegalArgumentException("cannot parse CSR: " + ErrorText.of(e), e);
        }
    }

    /** PEM text of a certificate, CSR or key. */
    public static String pem(Object object) {
        StringWriter out = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(out)) {
            writer.writeObject(object);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }

    private X509v3CertificateBuilder leafBuilder(X500Name subject, PublicKey key, Duration validity)
            throws IOException, GeneralSecurityException {
        return leafBuilder(subject, key, notBefore(), validity);
    }

    private X509v3CertificateBuilder leafBuilder(X500Name subject, PublicKey key, Date notBefore, Duration validity)
            throws IOException, GeneralSecurityException {
        JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
        return new JcaX509v3CertificateBuilder(
                        root, serial(), notBefore, Date.from(Instant.now().plus(validity)), subject, key)
                .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                .addExtension(
                        Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment))
                .addExtension(Extension.authorityKeyIdentifier, false, utils.createAuthorityKeyIdentifier(root));
    }

    private static X509Certificate sign(X509v3CertificateBuilder builder, PrivateKey signer)
            throws GeneralSecurityException {
        try {
            ContentSigner contentSigner = new JcaContentSignerBuilder("SHA256withECDSA").build(signer);
            return new JcaX509CertificateConverter().getCertificate(builder.build(contentSigner));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException(e);
        }
    }

    private static KeyPair newKeyPair() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static BigInteger serial() {
        return BigInteger.valueOf(SERIAL.incrementAndGet());
    }

    /** How far back certificates' validity starts by default (clock skew between the tests' parties). */
    public static final Duration BACKDATE = Duration.ofMinutes(5);

    private static Date notBefore() {
        return Date.from(Instant.now().minus(BACKDATE));
    }
}
