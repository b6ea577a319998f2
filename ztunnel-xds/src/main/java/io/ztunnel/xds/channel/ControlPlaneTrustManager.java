package io.ztunnel.xds.channel;

import java.net.InetAddress;
import java.net.Socket;
import java.net.UnknownHostException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import org.jspecify.annotations.Nullable;

/**
 * Verifies istiod's serving certificate: chain validation (PKIX) against the current {@link
 * RootCertificates}, then a host name check against the address's host and, if that fails, the
 * alternate host name ({@code ALT_XDS_HOSTNAME} / {@code ALT_CA_HOSTNAME}), as upstream does.
 *
 * <p>The host name check follows RFC 6125 as rustls (upstream's TLS stack) applies it: only
 * subject alternative names count (DNS names, with a wildcard allowed as the whole left-most
 * label; IP addresses for IP literal hosts), the subject CN is never used.
 *
 * <p>Client-side only; the server-side methods reject everything. Thread-safe and stateless apart
 * from the roots' own cache.
 */
final class ControlPlaneTrustManager extends X509ExtendedTrustManager {
    private static final int SAN_DNS = 2;
    private static final int SAN_IP = 7;

    private final RootCertificates roots;
    private final String host;
    private final Optional<String> altHostname;

    ControlPlaneTrustManager(RootCertificates roots, String host, Optional<String> altHostname) {
        this.roots = roots;
        this.host = host;
        this.altHostname = altHostname;
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        if (chain == null || chain.length == 0) {
            throw new CertificateException("istiod presented no certificate");
        }
        // Two-argument form: chain validation only; the host name check is ours (below).
        roots.trustManager().checkServerTrusted(chain, authType);
        X509Certificate leaf = chain[0];
        if (matchesHost(leaf, host)) {
            return;
        }
        if (altHostname.isPresent() && matchesHost(leaf, altHostname.get())) {
            return;
        }
        throw new CertificateException("istiod certificate names "
                + describeNames(leaf)
                + ", none matches \""
                + host
                + "\""
                + altHostname
                        .map(a -> " or the alternate host name \"" + a + "\"")
                        .orElse(""));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        throw new CertificateException("client certificates are not accepted here");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        checkClientTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        checkClientTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        try {
            return roots.trustManager().getAcceptedIssuers();
        } catch (CertificateException e) {
            return new X509Certificate[0];
        }
    }

    /** True if the certificate's subject alternative names cover {@code name}. */
    static boolean matchesHost(X509Certificate cert, String name) throws CertificateParsingException {
        Collection<List<?>> sans = cert.getSubjectAlternativeNames();
        if (sans == null) {
            return false;
        }
        byte[] ip = ipLiteral(name);
        for (List<?> san : sans) {
            int type = (Integer) san.get(0);
            Object value = san.get(1);
            if (ip != null && type == SAN_IP && value instanceof String text) {
                byte[] sanIp = ipLiteral(text);
                if (sanIp != null && Arrays.equals(ip, sanIp)) {
                    return true;
                }
            } else if (ip == null && type == SAN_DNS && value instanceof String dns) {
                if (dnsMatches(dns, name)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static boolean dnsMatches(String pattern, String name) {
        String p = stripDot(pattern.toLowerCase(Locale.ROOT));
        String n = stripDot(name.toLowerCase(Locale.ROOT));
        if (p.isEmpty() || n.isEmpty()) {
            return false;
        }
        if (!p.startsWith("*.")) {
            return p.equals(n);
        }
        // A wildcard stands for exactly one whole left-most label, and never for a bare suffix.
        String suffix = p.substring(1); // ".example.com"
        if (suffix.indexOf('*') >= 0 || suffix.chars().filter(c -> c == '.').count() < 2) {
            return false;
        }
        if (!n.endsWith(suffix)) {
            return false;
        }
        String label = n.substring(0, n.length() - suffix.length());
        return !label.isEmpty() && label.indexOf('.') < 0;
    }

    private static String stripDot(String s) {
        return s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
    }

    /** IP literal bytes, or null; never resolves names. */
    private static byte @Nullable [] ipLiteral(String s) {
        boolean v4 = s.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}");
        boolean v6 = s.indexOf(':') >= 0 && s.matches("[0-9A-Fa-f:.]+");
        if (!v4 && !v6) {
            return null;
        }
        try {
            return InetAddress.getByName(s).getAddress();
        } catch (UnknownHostException e) {
            return null;
        }
    }

    private static String describeNames(X509Certificate cert) {
        List<String> names = new ArrayList<>();
        try {
            Collection<List<?>> sans = cert.getSubjectAlternativeNames();
            if (sans != null) {
                for (List<?> san : sans) {
                    int type = (Integer) san.get(0);
                    if (type == SAN_DNS || type == SAN_IP) {
                        names.add(String.valueOf(san.get(1)));
                    }
                }
            }
        } catch (CertificateParsingException e) {
            return "(unparseable subject alternative names)";
        }
        return names.isEmpty() ? "no DNS or IP subject alternative name" : names.toString();
    }
}
