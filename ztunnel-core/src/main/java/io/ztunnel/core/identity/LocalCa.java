package io.ztunnel.core.identity;

import io.ztunnel.core.util.Errors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.bouncycastle.asn1.x500.RDN;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.CertIOException;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded certificate authority: signs workload certificates locally from a CA directory in Istio's plug-in CA
 * layout ({@code ca-cert.pem}, {@code ca-key.pem}, optional {@code cert-chain.pem} and {@code root-cert.pem}).
 *
 * <p>If the directory holds no CA, an ECDSA P-256 self-signed root is generated there once (under a file lock, so two
 * daemons starting together agree on one root) and reused on every later start. A user-provided CA may use RSA or EC
 * keys and may be an intermediate whose chain up to the root is in {@code cert-chain.pem}. Daemons pointed at the same
 * files trust each other.
 *
 * <p>Immutable after {@link #loadOrCreate}; {@link #sign} is thread-safe and completes before it returns.
 */
public final class LocalCa implements CertificateAuthority {
    private static final Logger log = LoggerFactory.getLogger(LocalCa.class);

    static final String CA_CERT = "ca-cert.pem";
    static final String CA_KEY = "ca-key.pem";
    static final String CERT_CHAIN = "cert-chain.pem";
    static final String ROOT_CERT = "root-cert.pem";
    private static final Duration GENERATED_ROOT_LIFETIME = Duration.ofDays(3650);
    private static final Duration MAX_BACKDATE = Duration.ofMinutes(1);

    private final Path directory;
    private final X509Certificate signingCertificate;
    private final PrivateKey signingKey;
    private final List<X509Certificate> intermediates;
    private final List<X509Certificate> roots;
    private final Clock clock;
    private final SecureRandom random = new SecureRandom();

    private LocalCa(
            Path directory,
            X509Certificate signingCertificate,
            PrivateKey signingKey,
            List<X509Certificate> intermediates,
            List<X509Certificate> roots,
            Clock clock) {
        this.directory = directory;
        this.signingCertificate = signingCertificate;
        this.signingKey = signingKey;
        this.intermediates = List.copyOf(intermediates);
        this.roots = List.copyOf(roots);
        this.clock = clock;
    }

    /**
     * Loads the CA in {@code directory}, generating a new root there first when the directory has none.
     *
     * @throws IllegalArgumentException naming the file and the problem when the CA files are unusable
     */
    public static LocalCa loadOrCreate(Path directory, Clock clock) {
        try {
            Files.createDirectories(directory);
            Path cert = directory.resolve(CA_CERT);
            Path key = directory.resolve(CA_KEY);
            if (!Files.exists(cert) || !Files.exists(key)) {
                generateUnderLock(directory);
            }
            return load(directory, clock);
        } catch (IOException e) {
            throw new UncheckedIOException("local CA " + directory + ": " + Errors.message(e), e);
        }
    }

    private static void generateUnderLock(Path directory) throws IOException {
        Path lockFile = directory.resolve(".ca.lock");
        try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                FileLock ignored = channel.lock()) {
            boolean hasCert = Files.exists(directory.resolve(CA_CERT));
            boolean hasKey = Files.exists(directory.resolve(CA_KEY));
            if (hasCert && hasKey) {
                return; // another daemon generated it while we waited for the lock
            }
            if (hasCert != hasKey) {
                throw new IllegalArgumentException("local CA " + directory + ": " + (hasCert ? CA_KEY : CA_CERT)
                        + " is missing (" + (hasCert ? CA_CERT : CA_KEY) + " exists); provide both or neither");
            }
            KeyPair keyPair = Csr.newP256KeyPair();
            X509Certificate root = selfSignedRoot(keyPair, Instant.now());
            writeAtomically(directory.resolve(CA_KEY), Pem.encodePkcs8(keyPair.getPrivate()), true);
            writeAtomically(directory.resolve(ROOT_CERT), Pem.encode(root), false);
            writeAtomically(directory.resolve(CA_CERT), Pem.encode(root), false);
            log.atInfo()
                    .addKeyValue("dir", directory)
                    .addKeyValue("serial", root.getSerialNumber().toString(16))
                    .log("generated a new local root CA");
        }
    }

    private static LocalCa load(Path directory, Clock clock) throws IOException {
        Path certPath = directory.resolve(CA_CERT);
        Path keyPath = directory.resolve(CA_KEY);
        X509Certificate signing =
                Pem.certificates(read(certPath), certPath.toString()).getFirst();
        PrivateKey key = Pem.privateKey(read(keyPath), keyPath.toString());
        if (!keyMatches(key, signing.getPublicKey())) {
            throw new IllegalArgumentException(keyPath + " does not match the public key of " + certPath);
        }
        if (signing.getBasicConstraints() < 0) {
            throw new IllegalArgumentException(certPath + " is not a CA certificate (basicConstraints CA:FALSE)");
        }
        Path chainPath = directory.resolve(CERT_CHAIN);
        List<X509Certificate> chain =
                Files.exists(chainPath) ? Pem.certificates(read(chainPath), chainPath.toString()) : List.of();
        Path rootPath = directory.resolve(ROOT_CERT);
        List<X509Certificate> roots = new ArrayList<>();
        if (Files.exists(rootPath)) {
            roots.addAll(Pem.certificates(read(rootPath), rootPath.toString()));
        } else {
            for (X509Certificate c : concat(List.of(signing), chain)) {
                if (Certificates.isSelfSigned(c) && !roots.contains(c)) {
                    roots.add(c);
                }
            }
        }
        if (roots.isEmpty()) {
            throw new IllegalArgumentException("local CA " + directory + ": no root certificate; add " + ROOT_CERT
                    + " or put the root at the end of " + CERT_CHAIN);
        }
        List<X509Certificate> intermediates = new ArrayList<>();
        Set<X509Certificate> rootSet = new HashSet<>(roots);
        for (X509Certificate c : concat(List.of(signing), chain)) {
            if (!rootSet.contains(c) && !Certificates.isSelfSigned(c) && !intermediates.contains(c)) {
                intermediates.add(c);
            }
        }
        validatePath(directory, intermediates, roots);
        log.atInfo()
                .addKeyValue("dir", directory)
                .addKeyValue("subject", signing.getSubjectX500Principal().getName())
                .addKeyValue("intermediates", intermediates.size())
                .addKeyValue("roots", roots.size())
                .log("loaded local CA");
        return new LocalCa(directory, signing, key, intermediates, roots, clock);
    }

    private static void validatePath(Path directory, List<X509Certificate> intermediates, List<X509Certificate> roots) {
        if (intermediates.isEmpty()) {
            return; // the signing certificate is itself a root
        }
        try {
            CertPath path = CertificateFactory.getInstance("X.509").generateCertPath(intermediates);
            Set<TrustAnchor> anchors = new HashSet<>();
            for (X509Certificate root : roots) {
                anchors.add(new TrustAnchor(root, null));
            }
            PKIXParameters params = new PKIXParameters(anchors);
            params.setRevocationEnabled(false);
            CertPathValidator.getInstance("PKIX").validate(path, params);
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException(
                    "local CA " + directory + ": " + CA_CERT + " does not chain to a root through " + CERT_CHAIN + ": "
                            + Errors.message(e),
                    e);
        }
    }

    @Override
    public CompletionStage<IssuedChain> sign(SpiffeId identity, String csrPem, Duration ttl) {
        try {
            Csr.Parsed csr = Csr.parse(csrPem);
            if (!csr.uriSans().equals(List.of(identity.toString()))) {
                throw new IllegalArgumentException(
                        "csr: URI SANs " + csr.uriSans() + " do not match the requested " + "identity " + identity);
            }
            X509Certificate leaf = issueLeaf(identity, csr.publicKey(), ttl);
            List<X509Certificate> chain = new ArrayList<>();
            chain.add(leaf);
            chain.addAll(intermediates);
            return CompletableFuture.completedFuture(new IssuedChain(chain, roots));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public String describe() {
        return describe(directory);
    }

    /** {@link #describe} of the CA in {@code directory}, also while it is still loading. */
    static String describe(Path directory) {
        return "local CA " + directory;
    }

    public List<X509Certificate> roots() {
        return roots;
    }

    private X509Certificate issueLeaf(SpiffeId identity, PublicKey publicKey, Duration ttl) {
        Instant now = clock.instant();
        Duration backdate = ttl.dividedBy(20).compareTo(MAX_BACKDATE) < 0 ? ttl.dividedBy(20) : MAX_BACKDATE;
        try {
            JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(
                    X500Name.getInstance(
                            signingCertificate.getSubjectX500Principal().getEncoded()),
                    new BigInteger(127, random).setBit(126),
                    Date.from(now.minus(backdate)),
                    Date.from(now.plus(ttl)),
                    new X500Name(new RDN[0]),
                    publicKey);
            builder.addExtension(
                    Extension.subjectAlternativeName,
                    true,
                    new GeneralNames(new GeneralName(GeneralName.uniformResourceIdentifier, identity.toString())));
            builder.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(new KeyPurposeId[] {
                KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth
            }));
            builder.addExtension(
                    Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            builder.addExtension(
                    Extension.authorityKeyIdentifier, false, utils.createAuthorityKeyIdentifier(signingCertificate));
            return new JcaX509CertificateConverter()
                    .getCertificate(builder.build(
                            new JcaContentSignerBuilder(signatureAlgorithm(signingKey)).build(signingKey)));
        } catch (GeneralSecurityException | CertIOException | OperatorCreationException e) {
            throw new IllegalStateException("cannot issue certificate for " + identity + ": " + Errors.message(e), e);
        }
    }

    static X509Certificate selfSignedRoot(KeyPair keyPair, Instant now) {
        try {
            X500Name name = new X500Name("O=cluster.local,CN=ztunnel-java local root CA");
            JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(
                    name,
                    new BigInteger(127, new SecureRandom()).setBit(126),
                    Date.from(now.minus(Duration.ofHours(1))),
                    Date.from(now.plus(GENERATED_ROOT_LIFETIME)),
                    name,
                    keyPair.getPublic());
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            builder.addExtension(
                    Extension.subjectKeyIdentifier, false, utils.createSubjectKeyIdentifier(keyPair.getPublic()));
            return new JcaX509CertificateConverter()
                    .getCertificate(
                            builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(keyPair.getPrivate())));
        } catch (GeneralSecurityException | CertIOException | OperatorCreationException e) {
            throw new IllegalStateException("cannot generate a root CA: " + Errors.message(e), e);
        }
    }

    static String signatureAlgorithm(PrivateKey key) {
        return switch (key.getAlgorithm()) {
            case "EC", "ECDSA" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            default ->
                throw new IllegalArgumentException(
                        "unsupported CA key algorithm " + key.getAlgorithm() + " (expected RSA or EC)");
        };
    }

    private static boolean keyMatches(PrivateKey key, PublicKey publicKey) {
        try {
            byte[] probe = "ztunnel-java key check".getBytes(StandardCharsets.US_ASCII);
            String algorithm = signatureAlgorithm(key);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(publicKey);
            verifier.update(probe);
            return verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    private static String read(Path path) throws IOException {
        return Files.readString(path, StandardCharsets.US_ASCII);
    }

    private static void writeAtomically(Path target, String content, boolean secret) throws IOException {
        Path temp = Files.createTempFile(target.getParent(), ".tmp-", ".pem");
        try {
            if (secret) {
                try {
                    Files.setPosixFilePermissions(temp, PosixFilePermissions.fromString("rw-------"));
                } catch (UnsupportedOperationException ignored) {
                    // non-POSIX file system: nothing more we can do
                }
            }
            Files.writeString(temp, content, StandardCharsets.US_ASCII);
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    private static <T> List<T> concat(List<T> a, List<T> b) {
        List<T> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }
}
