package io.ztunnel.xds.channel;

import io.ztunnel.xds.ErrorText;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.KeyStoreException;
import java.security.NoSuchAlgorithmException;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.Collection;
import java.util.Objects;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import org.jspecify.annotations.Nullable;

/**
 * The trust anchors for istiod's serving certificate: ztunnel's {@code XDS_ROOT_CA} / {@code
 * CA_ROOT_CA}.
 *
 * <p>Three sources: the operating system's roots ({@code SYSTEM}), a PEM file (normally the
 * mounted {@code istio-ca-root-cert} ConfigMap), or inline PEM text. A file is read again on every
 * TLS handshake and the trust manager rebuilt when its bytes changed, so a rotated root is
 * honoured on the next connection without a restart (it also follows ConfigMap symlink swaps,
 * since the path is resolved on each read).
 *
 * <p>Thread-safe: {@link #trustManager()} may be called concurrently; the cache is replaced
 * atomically.
 */
public abstract sealed class RootCertificates {

    private RootCertificates() {}

    /** The JDK's default trust store (upstream's {@code SYSTEM}). */
    public static RootCertificates system() {
        return new SystemRoots();
    }

    /** Roots from a PEM file, re-read when it changes. */
    public static RootCertificates file(Path file) {
        return new FileRoots(Objects.requireNonNull(file, "file"));
    }

    /**
     * Roots from PEM text.
     *
     * @throws IllegalArgumentException if the text holds no certificate
     */
    public static RootCertificates pem(String pem) {
        try {
            return new StaticRoots(pem, trustManagerFor(parsePem(pem.getBytes(StandardCharsets.UTF_8), "inline PEM")));
        } catch (CertificateException e) {
            throw new IllegalArgumentException("root certificates: " + ErrorText.of(e), e);
        }
    }

    /**
     * Interprets an {@code XDS_ROOT_CA} / {@code CA_ROOT_CA} value: {@code SYSTEM} means the OS
     * roots, text containing a PEM certificate header is inline PEM, anything else is a file path
     * (which need not exist yet; connections fail with a clear error until it does).
     */
    public static RootCertificates fromSetting(String value) {
        Objects.requireNonNull(value, "value");
        if (value.equals("SYSTEM")) {
            return system();
        }
        if (value.contains("-----BEGIN CERTIFICATE-----")) {
            return pem(value);
        }
        return file(Path.of(value));
    }

    /**
     * A PKIX trust manager for the current roots.
     *
     * @throws CertificateException if the roots cannot be read or parsed (the message says which)
     */
    public abstract X509TrustManager trustManager() throws CertificateException;

    static X509Certificate[] parsePem(byte[] pem, String what) throws CertificateException {
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        Collection<? extends Certificate> certs;
        try {
            certs = factory.generateCertificates(new ByteArrayInputStream(pem));
        } catch (CertificateException e) {
            throw new CertificateException(what + " is not valid PEM: " + ErrorText.of(e), e);
        }
        if (certs.isEmpty()) {
            throw new CertificateException(what + " holds no certificate");
        }
        return certs.stream().map(c -> (X509Certificate) c).toArray(X509Certificate[]::new);
    }

    static X509TrustManager trustManagerFor(X509Certificate[] roots) throws CertificateException {
        try {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            for (int i = 0; i < roots.length; i++) {
                store.setCertificateEntry("root-" + i, roots[i]);
            }
            TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init(store);
            return firstX509(factory.getTrustManagers());
        } catch (KeyStoreException | NoSuchAlgorithmException | IOException e) {
            throw new CertificateException("cannot build a trust manager: " + ErrorText.of(e), e);
        }
    }

    private static X509TrustManager firstX509(TrustManager[] managers) throws CertificateException {
        for (TrustManager m : managers) {
            if (m instanceof X509TrustManager x509) {
                return x509;
            }
        }
        throw new CertificateException("no X509TrustManager available");
    }

    private static final class SystemRoots extends RootCertificates {
        private volatile @Nullable X509TrustManager cached;

        @Override
        public X509TrustManager trustManager() throws CertificateException {
            X509TrustManager tm = cached;
            if (tm == null) {
                try {
                    TrustManagerFactory factory =
                            TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                    factory.init((KeyStore) null);
                    tm = firstX509(factory.getTrustManagers());
                } catch (KeyStoreException | NoSuchAlgorithmException e) {
                    throw new CertificateException("cannot load the system trust store: " + ErrorText.of(e), e);
                }
                cached = tm;
            }
            return tm;
        }

        @Override
        public String toString() {
            return "RootCertificates.system";
        }
    }

    private static final class StaticRoots extends RootCertificates {
        private final String pem;
        private final X509TrustManager tm;

        StaticRoots(String pem, X509TrustManager tm) {
            this.pem = pem;
            this.tm = tm;
        }

        @Override
        public X509TrustManager trustManager() {
            return tm;
        }

        @Override
        public String toString() {
            return "RootCertificates.pem(" + pem.length() + " chars)";
        }
    }

    private static final class FileRoots extends RootCertificates {
        private record Loaded(byte[] content, X509TrustManager tm) {}

        private final Path file;
        private volatile @Nullable Loaded loaded;

        FileRoots(Path file) {
            this.file = file;
        }

        @Override
        public X509TrustManager trustManager() throws CertificateException {
            byte[] content;
            try {
                content = Files.readAllBytes(file);
            } catch (IOException e) {
                throw new CertificateException("cannot read root certificate file " + file + ": " + ErrorText.of(e), e);
            }
            Loaded current = loaded;
            if (current != null && Arrays.equals(current.content(), content)) {
                return current.tm();
            }
            X509TrustManager tm = trustManagerFor(parsePem(content, "root certificate file " + file));
            loaded = new Loaded(content, tm);
            return tm;
        }

        @Override
        public String toString() {
            return "RootCertificates.file(" + file + ")";
        }
    }
}
