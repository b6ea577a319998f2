package io.ztunnel.core.identity;

import io.ztunnel.core.util.Errors;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;

/** PEM encoding and decoding of certificates and private keys (PKCS#8, PKCS#1 RSA and SEC1 EC keys). Stateless. */
public final class Pem {
    private Pem() {}

    /** Parses every certificate in a PEM bundle, in order. */
    public static List<X509Certificate> certificates(String pem, String source) {
        try {
            CertificateFactory factory = CertificateFactory.getInstance("X.509");
            Collection<? extends Certificate> parsed =
                    factory.generateCertificates(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
            List<X509Certificate> out = new ArrayList<>(parsed.size());
            for (Certificate c : parsed) {
                out.add((X509Certificate) c);
            }
            if (out.isEmpty()) {
                throw new IllegalArgumentException(source + ": no PEM certificate found");
            }
            return List.copyOf(out);
        } catch (CertificateException e) {
            throw new IllegalArgumentException(source + ": invalid PEM certificate: " + Errors.message(e), e);
        }
    }

    /** Parses one private key in any of the usual PEM forms. */
    public static PrivateKey privateKey(String pem, String source) {
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            Object object = parser.readObject();
            JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
            if (object instanceof PEMKeyPair pair) {
                return converter.getPrivateKey(pair.getPrivateKeyInfo());
            }
            if (object instanceof PrivateKeyInfo info) {
                return converter.getPrivateKey(info);
            }
            throw new IllegalArgumentException(source + ": no unencrypted PEM private key found"
                    + (object == null ? "" : " (found " + object.getClass().getSimpleName() + ")"));
        } catch (IOException e) {
            throw new IllegalArgumentException(source + ": invalid PEM private key: " + Errors.message(e), e);
        }
    }

    public static String encode(List<X509Certificate> certificates) {
        StringBuilder out = new StringBuilder();
        for (X509Certificate c : certificates) {
            out.append(encode(c));
        }
        return out.toString();
    }

    public static String encode(X509Certificate certificate) {
        return write(certificate);
    }

    /** Encodes a private key as PKCS#8 PEM ({@code BEGIN PRIVATE KEY}), the only form Istio's ztunnel accepts. */
    public static String encodePkcs8(PrivateKey key) {
        try {
            return write(new JcaPKCS8Generator(key, null).generate());
        } catch (IOException e) {
            throw new IllegalStateException("cannot encode private key", e);
        }
    }

    static String write(Object object) {
        StringWriter text = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(text)) {
            writer.writeObject(object);
        } catch (IOException e) {
            throw new IllegalStateException("cannot encode PEM", e);
        }
        return text.toString();
    }
}
