package io.ztunnel.cni.rules;

import io.ztunnel.cni.exec.CommandException;
import io.ztunnel.cni.exec.CommandResult;
import io.ztunnel.cni.exec.CommandRunner;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The host side of kubelet probe handling (Kubernetes mode): in the node's namespace, locally
 * originated TCP (a socket exists, i.e. kubelet, not forwarded kube-proxy traffic) to an enrolled
 * pod's IP is SNATed to the probe address, which the in-pod rules exempt from capture. The pod IPs
 * live in the ipsets {@value #SET_V4} / {@value #SET_V6} ({@code hash:ip} with comments; each entry's
 * comment is the pod UID), matched by the rule in our nat chain {@value #CHAIN}, jumped to first
 * from POSTROUTING.
 *
 * <p>Needs the {@code ipset} tool (Debian package {@code ipset}) and {@code iptables}. Rules are
 * applied like the in-pod ones ({@link IptablesSync}: compare with {@code iptables-save}, one
 * atomic restore when they differ), so {@link #install()} is idempotent.
 *
 * <p>Thread-safe and stateless; commands run through the given {@link CommandRunner} (the host
 * namespace in production, a test namespace in tests), each with a timeout. Owns no fds.
 */
public final class HostProbeSnat {
    private static final Logger log = LoggerFactory.getLogger(HostProbeSnat.class);

    public static final String CHAIN = "ISTIO_POSTRT";
    public static final String SET_V4 = "istio-inpod-probes-v4";
    public static final String SET_V6 = "istio-inpod-probes-v6";

    private static final Set<String> OWNED = Set.of(CHAIN);
    private static final List<String> MANAGED = List.of("nat");

    private final CommandRunner runner;
    private final RedirectSettings settings;
    private final Duration timeout;

    public HostProbeSnat(CommandRunner runner, RedirectSettings settings, Duration timeout) {
        this.runner = runner;
        this.settings = settings;
        this.timeout = timeout;
    }

    /** The ipset of a family. */
    public static String setName(IpFamily family) {
        return family == IpFamily.V4 ? SET_V4 : SET_V6;
    }

    /** Our nat chain and its jump for one family (pure; the golden form of the host rules). */
    public static List<IptablesTable> tables(IpFamily family, InetAddress snatAddress) {
        return List.of(new IptablesTable(
                "nat",
                List.of(CHAIN),
                List.of(
                        new IptablesRule("nat", "POSTROUTING", "-j " + CHAIN, true),
                        IptablesRule.append(
                                "nat",
                                CHAIN,
                                "-m owner --socket-exists -p tcp -m set --match-set "
                                        + setName(family)
                                        + " dst -j SNAT --to-source "
                                        + Addresses.format(snatAddress)))));
    }

    /** The iptables-restore input for a host without our chain. */
    public static String restoreInput(IpFamily family, InetAddress snatAddress) {
        return IptablesRules.render(tables(family, snatAddress));
    }

    private List<IpFamily> families() {
        return settings.ipv6() ? List.of(IpFamily.V4, IpFamily.V6) : List.of(IpFamily.V4);
    }

    private InetAddress snat(IpFamily family) {
        return family == IpFamily.V4 ? settings.probeSnatV4() : settings.probeSnatV6();
    }

    /** Creates the ipsets (if missing) and brings the SNAT rules in place. Idempotent. */
    public void install() throws CommandException {
        for (IpFamily f : families()) {
            runner.run(
                            List.of(
                                    "ipset",
                                    "create",
                                    setName(f),
                                    "hash:ip",
                                    "family",
                                    f == IpFamily.V4 ? "inet" : "inet6",
                                    "comment",
                                    "-exist"),
                            timeout)
                    .orThrow();
            sync(f, tables(f, snat(f)));
        }
        log.atInfo()
                .setMessage("host probe SNAT installed")
                .addKeyValue("where", runner.where())
                .addKeyValue("families", families())
                .log();
    }

    /** Removes our chain and jump, then the ipsets; what is already gone is ignored. */
    public void uninstall() throws CommandException {
        for (IpFamily f : List.of(IpFamily.V4, IpFamily.V6)) {
            sync(f, List.of());
            CommandResult r = runner.run(List.of("ipset", "destroy", setName(f)), timeout);
            if (!r.succeeded() && !r.stderr().contains("does not exist")) {
                r.orThrow();
            }
        }
    }

    /** Adds (or re-labels) the pod's IPs in the sets, with the pod UID as the entry comment. */
    public void addPod(String uid, Collection<InetAddress> ips) throws CommandException {
        for (InetAddress ip : ips) {
            IpFamily f = family(ip);
            if (!families().contains(f)) {
                continue;
            }
            runner.run(List.of("ipset", "add", setName(f), Addresses.format(ip), "comment", uid, "-exist"), timeout)
                    .orThrow();
        }
    }

    /**
     * Removes those of the pod's IPs whose entry carries this pod's UID; an IP already reused by
     * another pod keeps that pod's entry.
     */
    public void removePod(String uid, Collection<InetAddress> ips) throws CommandException {
        Map<IpFamily, Map<String, String>> members = new LinkedHashMap<>();
        for (InetAddress ip : ips) {
            IpFamily f = family(ip);
            Map<String, String> set = members.get(f);
            if (set == null) {
                Optional<Map<String, String>> listed = list(f);
                if (listed.isEmpty()) {
                    continue; // no such set: nothing to remove
                }
                set = listed.get();
                members.put(f, set);
            }
            String address = Addresses.format(ip);
            if (uid.equals(set.get(address))) {
                runner.run(List.of("ipset", "del", setName(f), address, "-exist"), timeout)
                        .orThrow();
            }
        }
    }

    /** IP (as the tools print it) → comment (pod UID) of a family's set; empty if there is no set. */
    public Optional<Map<String, String>> list(IpFamily family) throws CommandException {
        CommandResult r = runner.run(List.of("ipset", "save", setName(family)), timeout);
        if (!r.succeeded()) {
            if (r.stderr().contains("does not exist")) {
                return Optional.empty();
            }
            r.orThrow();
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (String line : r.stdout().split("\n")) {
            List<String> t = IptablesSave.tokenize(line.strip());
            if (t.size() >= 3 && t.get(0).equals("add")) {
                String comment = "";
                int c = t.indexOf("comment");
                if (c >= 0 && c + 1 < t.size()) {
                    comment = t.get(c + 1).replace("\"", "");
                }
                out.put(t.get(2), comment);
            }
        }
        return Optional.of(out);
    }

    private void sync(IpFamily family, List<IptablesTable> wanted) throws CommandException {
        String listing =
                runner.run(List.of(family.saveCommand()), timeout).orThrow().stdout();
        Optional<String> plan = IptablesSync.plan(wanted, OWNED, MANAGED, IptablesSave.parse(listing));
        if (plan.isPresent()) {
            runner.run(
                            List.of(family.restoreCommand(), "--noflush"),
                            plan.get().getBytes(StandardCharsets.UTF_8),
                            timeout)
                    .orThrow();
        }
    }

    private static IpFamily family(InetAddress ip) {
        return ip instanceof Inet4Address ? IpFamily.V4 : IpFamily.V6;
    }
}
