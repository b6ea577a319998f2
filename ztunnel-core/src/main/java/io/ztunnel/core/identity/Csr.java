package io.ztunnel.core.identity;

import io.ztunnel.core.util.Errors;
import java.io.IOException;
import java.io.StringReader;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PublicKey;
import java.security.spec.ECGenParameterSpec;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.Extensions;
import org.bouncycastle.asn1.x509.ExtensionsGenerator;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;
import org.bouncycastle.pkcs.PKCSException;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequest;
import org.bouncycastle.pkcs.jcajce.JcaPKCS10CertificationRequestBuilder;

/**
 * Workload keys and PKCS#10 certificate requests in the form Istio expects: a fresh ECDSA P-256 key, an empty subject,
 * SHA-256 signature, and exactly one URI SAN (the SPIFFE id) in a critical SAN extension. Stateless.
 */
public final class Csr {
    private Csr() {}

    public static KeyPair newP256KeyPair() {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"));
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("ECDSA P-256 is not available in this JDK", e);
        }
    }

    /** Builds the PEM-encoded request for {@code identity}, signed with {@code keyPair}. */
    public static String create(SpiffeId identity, KeyPair keyPair) {
        try {
            ExtensionsGenerator extensions = new ExtensionsGenerator();
            extensions.addExtension(
                    Extension.subjectAlternativeName,
                    true,
                    new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, identity.toString())));
            PKCS10CertificationRequest request = new JcaPKCS10CertificationRequestBuilder(
                            new X500Name(new RDN[0]), keyPair.getPublic())
                    .addAttribute(PKCSObjectIdentifiers.pkcs_9_at_extensionRequest, extensions.generate())
                    .build(new JcaContentSignerBuilder("SHA256withECDSA").build(keyPair.getPrivate()));
            return Pem.write(request);
        } catch (IOException | OperatorCreationException e) {
            throw new IllegalStateException("cannot build certificate request for " + identity, e);
        }
    }

    /** A parsed and signature-checked request. */
    public record Parsed(PublicKey publicKey, List<String> uriSans) {}

    /**
     * Parses a PEM request and checks its self-signature.
     *
     * @throws IllegalArgumentException when the request is malformed or its signature does not verify
     */
    public static Parsed parse(String pem) {
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            Object object = parser.readObject();
            if (!(object instanceof PKCS10CertificationRequest request)) {
                throw new IllegalArgumentException("csr: not a PEM certificate request");
            }
            JcaPKCS10CertificationRequest jca = new JcaPKCS10CertificationRequest(request);
            if (!request.isSignatureValid(new JcaContentVerifierProviderBuilder().build(jca.getPublicKey()))) {
                throw new IllegalArgumentException("csr: signature does not verify");
            }
            List<String> uris = new ArrayList<>();
            Extensions extensions = request.getRequestedExtensions();
            if (extensions != null) {
                GeneralNames names = GeneralNames.fromExtensions(extensions, Extension.subjectAlternativeName);
                if (names != null) {
                    for (GeneralName name : names.getNames()) {
                        if (name.getTagNo() == GeneralName.uniformResourceIdentifier) {
                            uris.add(name.getName().toString());
                        }
                    }
                }
            }
            return new Parsed(jca.getPublicKey(), List.copyOf(uris));
        } catch (IOException | OperatorCreationException | PKCSException | GeneralSecurityException e) {
            throw new IllegalArgumentException("csr: " + Errors.message(e), e);
        }
    }
}
