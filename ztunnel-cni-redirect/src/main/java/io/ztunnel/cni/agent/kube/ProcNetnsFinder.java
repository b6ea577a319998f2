package io.ztunnel.cni.agent.kube;

import io.ztunnel.cni.linux.NetnsId;
import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds the network namespace of running pods by their IPs, the way istio-cni does without the CNI
 * plugin's help: scan the host's {@code /proc} (mounted into the agent's container, by default at
 * {@code /host/proc}; {@code HOST_PROC}) for a process whose network namespace holds the pod's IP.
 *
 * <p>For each process, lowest pid first (so the pod sandbox's pause process, which lives as long as
 * the namespace, is preferred over the app's processes): the identity of {@code <pid>/ns/net} is
 * read ({@code stat}, following the magic link); the host's namespace ({@code 1/ns/net}) and
 * namespaces already looked at are skipped; the namespace's local addresses are read from {@code
 * <pid>/net/fib_trie} (IPv4, the {@code host LOCAL} entries) and {@code <pid>/net/if_inet6}
 * (IPv6), which show the namespace of that process, not ours; then the identity is read again, so
 * a pid that exited and was reused meanwhile is not mistaken for the pod. The result is the path
 * {@code <proc>/<pid>/ns/net} and the namespace identity, which the agent opens and checks again.
 *
 * <p>Threading: stateless apart from its root; any thread may call it (the pod source's thread
 * does). Reads only; owns no fds.
 */
public final class ProcNetnsFinder implements NetnsFinder {
    private static final Logger log = LoggerFactory.getLogger(ProcNetnsFinder.class);

    private final Path procRoot;

    public ProcNetnsFinder(Path procRoot) {
        this.procRoot = Objects.requireNonNull(procRoot, "procRoot");
    }

    public Path procRoot() {
        return procRoot;
    }

    @Override
    public String toString() {
        return "scan of " + procRoot;
    }

    /** The identity of the namespace {@code path} refers to, empty if it cannot be read. */
    public static Optional<NetnsId> idOf(Path path) {
        try {
            Map<String, Object> a = Files.readAttributes(path, "unix:ino,dev");
            if (a.get("ino") instanceof Long ino && a.get("dev") instanceof Long dev) {
                return Optional.of(new NetnsId(ino, dev));
            }
            return Optional.empty();
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** One scan of the proc root; throws if it cannot be listed at all. */
    @Override
    public Map<String, Found> find(Map<String, List<InetAddress>> wanted) throws IOException {
        Map<String, Found> found = new LinkedHashMap<>();
        if (wanted.isEmpty()) {
            return found;
        }
        Optional<NetnsId> host = idOf(procRoot.resolve("1/ns/net"));
        Set<NetnsId> seen = new HashSet<>();
        host.ifPresent(seen::add);
        for (long pid : pids()) {
            Path nsPath = procRoot.resolve(pid + "/ns/net");
            Optional<NetnsId> id = idOf(nsPath);
            if (id.isEmpty() || !seen.add(id.get())) {
                continue;
            }
            Set<InetAddress> local = localAddresses(procRoot.resolve(pid + "/net"));
            if (local.isEmpty() || !id.equals(idOf(nsPath))) {
                continue; // no addresses, or the pid was reused while we read
            }
            for (Map.Entry<String, List<InetAddress>> w : wanted.entrySet()) {
                if (!found.containsKey(w.getKey()) && w.getValue().stream().anyMatch(local::contains)) {
                    found.put(w.getKey(), new Found(nsPath, id.get()));
                    break;
                }
            }
            if (found.size() == wanted.size()) {
                break;
            }
        }
        log.atDebug()
                .setMessage("proc scan")
                .addKeyValue("procRoot", procRoot)
                .addKeyValue("wanted", wanted.size())
                .addKeyValue("found", found.size())
                .addKeyValue("namespaces", seen.size())
                .log();
        return found;
    }

    private List<Long> pids() throws IOException {
        List<Long> pids = new ArrayList<>();
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(procRoot)) {
            for (Path p : dir) {
                String name = p.getFileName().toString();
                if (!name.isEmpty() && name.chars().allMatch(Character::isDigit)) {
                    try {
                        pids.add(Long.parseLong(name));
                    } catch (NumberFormatException e) {
                        // not a pid
                    }
                }
            }
        }
        pids.sort(null);
        return pids;
    }

    /** The local addresses of the namespace whose {@code /proc/<pid>/net} is {@code net}. */
    static Set<InetAddress> localAddresses(Path net) {
        Set<InetAddress> out = new HashSet<>();
        try {
            out.addAll(parseFibTrie(Files.readString(net.resolve("fib_trie"), StandardCharsets.US_ASCII)));
        } catch (IOException | RuntimeException e) {
            // process gone, or no IPv4
        }
        try {
            out.addAll(parseIfInet6(Files.readString(net.resolve("if_inet6"), StandardCharsets.US_ASCII)));
        } catch (IOException | RuntimeException e) {
            // process gone, or IPv6 disabled
        }
        return out;
    }

    /** The {@code /32 host LOCAL} addresses of a {@code fib_trie} listing. */
    static List<InetAddress> parseFibTrie(String text) {
        List<InetAddress> out = new ArrayList<>();
        String last = null;
        for (String line : text.split("\n")) {
            String t = line.strip();
            if (t.startsWith("|-- ") || t.startsWith("+-- ")) {
                String addr = t.substring(4);
                int sp = addr.indexOf(' ');
                last = sp < 0 ? addr : addr.substring(0, sp);
            } else if (last != null && t.startsWith("/32 host LOCAL")) {
                try {
                    InetAddress a = InetAddress.ofLiteral(last);
                    if (!out.contains(a)) {
                        out.add(a);
                    }
                } catch (IllegalArgumentException e) {
                    // not an address
                }
            }
        }
        return out;
    }

    /** The addresses of an {@code if_inet6} listing (32 hex digits, then index, prefix, ...). */
    static List<InetAddress> parseIfInet6(String text) {
        List<InetAddress> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            String t = line.strip();
            if (t.length() < 32) {
                continue;
            }
            byte[] b = new byte[16];
            try {
                for (int i = 0; i < 16; i++) {
                    b[i] = (byte) Integer.parseInt(t.substring(2 * i, 2 * i + 2), 16);
                }
                out.add(InetAddress.getByAddress(b));
            } catch (NumberFormatException | UnknownHostException e) {
                // malformed line
            }
        }
        return out;
    }
}
