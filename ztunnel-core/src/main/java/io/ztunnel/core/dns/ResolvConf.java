package io.ztunnel.core.dns;

import io.ztunnel.core.util.Errors;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The parts of a {@code resolv.conf} the forwarder uses, read once at start from the daemon's own file (in Kubernetes,
 * the ztunnel pod's DNS settings): {@code nameserver} lines (port 53, at most three as the C library uses), the
 * {@code search} list (or {@code domain}), and {@code options timeout:N attempts:N ndots:N edns0 rotate}. Unknown
 * lines and options are ignored, as resolvers do. Immutable.
 *
 * @param nameservers upstream resolvers, in order
 * @param search search domains, without trailing dots (used as dedicated mode's search list, never sent upstream)
 * @param timeout how long to wait for one upstream answer (default 5 s, the resolver library's)
 * @param attempts rounds over the nameservers (default 2)
 * @param edns0 advertise EDNS (a 1232-byte payload) upstream
 * @param domain the {@code domain} line, without a trailing dot, or null (shown in {@code /config_dump})
 * @param ndots {@code options ndots:N} (default 1; shown in {@code /config_dump}: a forwarder sends names as asked)
 * @param rotate {@code options rotate} (shown in {@code /config_dump}; the forwarder keeps the file's order)
 */
public record ResolvConf(
        List<InetSocketAddress> nameservers,
        List<String> search,
        Duration timeout,
        int attempts,
        boolean edns0,
        @Nullable String domain,
        int ndots,
        boolean rotate) {
    public static final Path SYSTEM = Path.of("/etc/resolv.conf");
    static final int MAX_NAMESERVERS = 3;

    /** No resolvers, resolv.conf's defaults otherwise: what stands in when the file is not read or cannot be. */
    public static final ResolvConf NONE = new ResolvConf(List.of(), List.of(), Duration.ofSeconds(5), 2, false);

    public ResolvConf {
        nameservers = List.copyOf(nameservers);
        search = List.copyOf(search);
    }

    /** A configuration without a {@code domain} line, {@code ndots} or {@code rotate} (their defaults). */
    public ResolvConf(
            List<InetSocketAddress> nameservers, List<String> search, Duration timeout, int attempts, boolean edns0) {
        this(nameservers, search, timeout, attempts, edns0, null, 1, false);
    }

    /** Reads {@code file}; a file that cannot be read is an error naming it. */
    public static ResolvConf read(Path file) {
        try {
            return parse(Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException e) {
            String reason = e instanceof NoSuchFileException
                    ? "no such file"
                    : e instanceof AccessDeniedException ? "permission denied" : Errors.message(e);
            throw new IllegalStateException("cannot read " + file + " for the DNS proxy's upstream resolvers: " + reason
                    + "; set ISTIO_META_DNS_CAPTURE=false to run without the DNS proxy");
        }
    }

    public static ResolvConf parse(String text) {
        List<InetSocketAddress> servers = new ArrayList<>();
        List<String> search = new ArrayList<>();
        String domain = null;
        Duration timeout = Duration.ofSeconds(5);
        int attempts = 2;
        int ndots = 1;
        boolean edns0 = false;
        boolean rotate = false;
        for (String raw : text.split("\n")) {
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#") || line.startsWith(";")) {
                continue;
            }
            String[] words = line.split("\\s+");
            switch (words[0]) {
                case "nameserver" -> {
                    if (words.length > 1 && servers.size() < MAX_NAMESERVERS) {
                        try {
                            String ip = words[1];
                            int scope = ip.indexOf('%'); // link-local scope ids are not usable here
                            servers.add(new InetSocketAddress(
                                    InetAddress.ofLiteral(scope < 0 ? ip : ip.substring(0, scope)), 53));
                        } catch (IllegalArgumentException ignored) {
                            // not an IP address: the C library skips it too
                        }
                    }
                }
                case "search" -> {
                    search.clear();
                    for (int i = 1; i < words.length; i++) {
                        search.add(trimDot(words[i]));
                    }
                }
                case "domain" -> {
                    if (words.length > 1) {
                        domain = trimDot(words[1]);
                    }
                }
                case "options" -> {
                    for (int i = 1; i < words.length; i++) {
                        String o = words[i];
                        if (o.startsWith("timeout:")) {
                            timeout = Duration.ofSeconds(Math.clamp(number(o, 5), 1, 30));
                        } else if (o.startsWith("attempts:")) {
                            attempts = Math.clamp(number(o, 2), 1, 5);
                        } else if (o.startsWith("ndots:")) {
                            ndots = Math.clamp(number(o, 1), 0, 15);
                        } else if (o.equals("edns0")) {
                            edns0 = true;
                        } else if (o.equals("rotate")) {
                            rotate = true;
                        }
                    }
                }
                default -> {
                    // sortlist, other options: not used by a forwarder
                }
            }
        }
        if (search.isEmpty() && domain != null) {
            search.add(domain);
        }
        return new ResolvConf(servers, search, timeout, attempts, edns0, domain, ndots, rotate);
    }

    private static int number(String option, int fallback) {
        try {
            return Integer.parseInt(option.substring(option.indexOf(':') + 1));
        } catch (NumberFormatException e) {
            return fallback;
        }
    }

    private static String trimDot(String name) {
        return name.endsWith(".") ? name.substring(0, name.length() - 1) : name;
    }
}
