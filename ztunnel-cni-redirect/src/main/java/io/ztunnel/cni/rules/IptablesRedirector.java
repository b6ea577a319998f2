package io.ztunnel.cni.rules;

import io.ztunnel.cni.exec.CommandException;
import io.ztunnel.cni.exec.CommandRunner;
import io.ztunnel.cni.linux.PodNetns;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The in-pod redirection with iptables: {@link IptablesRules} applied with {@code iptables-restore
 * --noflush} (and {@code ip6tables-restore}) inside the pod's namespace, plus {@link
 * PolicyRouting}.
 *
 * <p>Each apply first reads {@code iptables-save} in the namespace and compares our chains with the
 * wanted rules ({@link IptablesSync}); when they match nothing is run, otherwise one restore
 * transaction per family replaces exactly our part. That makes apply idempotent, makes it the
 * reconcile step too (a drifted table is repaired in one commit, with no window in which our chains
 * are missing, so no "guardrail" rules are needed), and makes remove touch only what is there. The tool variant (nft or legacy) is whatever {@code iptables-restore} on PATH is.
 *
 * <p>Thread-safe and stateless; commands run through {@link CommandRunner#in(PodNetns)} with a
 * timeout each (10 s by default). Owns no fds.
 */
public final class IptablesRedirector implements InpodRedirector {
    private static final Logger log = LoggerFactory.getLogger(IptablesRedirector.class);

    private final Duration timeout;

    public IptablesRedirector() {
        this(Duration.ofSeconds(10));
    }

    public IptablesRedirector(Duration commandTimeout) {
        this.timeout = commandTimeout;
    }

    @Override
    public boolean apply(PodNetns netns, String pod, InpodRuleSet rules) throws RedirectException {
        CommandRunner runner = CommandRunner.in(netns);
        List<IpFamily> wanted = families(pod, () -> NetnsFamilies.wanted(netns, rules.ipv6()));
        List<IpFamily> present = families(pod, () -> NetnsFamilies.present(netns));
        try {
            PolicyRouting.add(runner, wanted, timeout);
            List<IpFamily> unwanted = new ArrayList<>(present);
            unwanted.removeAll(wanted);
            PolicyRouting.remove(runner, unwanted, timeout);
        } catch (CommandException e) {
            throw new RedirectException(pod, "setting up policy routing", e);
        }
        boolean changed = false;
        for (IpFamily family : present) {
            List<IptablesTable> tables = wanted.contains(family) ? IptablesRules.tables(rules, family) : List.of();
            changed |= sync(runner, pod, family, tables, "applying iptables rules");
        }
        return changed;
    }

    @Override
    public void remove(PodNetns netns, String pod) throws RedirectException {
        CommandRunner runner = CommandRunner.in(netns);
        List<IpFamily> present = families(pod, () -> NetnsFamilies.present(netns));
        for (IpFamily family : present) {
            sync(runner, pod, family, List.of(), "removing iptables rules");
        }
        try {
            PolicyRouting.remove(runner, present, timeout);
        } catch (CommandException e) {
            throw new RedirectException(pod, "removing policy routing", e);
        }
    }

    @Override
    public void stopCapture(PodNetns netns, String pod) throws RedirectException {
        CommandRunner runner = CommandRunner.in(netns);
        for (IpFamily family : families(pod, () -> NetnsFamilies.present(netns))) {
            String step = "stopping the capture";
            Optional<String> plan = IptablesSync.unhookPlan(
                    IptablesRules.OWNED_CHAINS, IptablesRules.TABLES, save(runner, pod, family, step));
            if (plan.isEmpty()) {
                continue;
            }
            log.atInfo()
                    .setMessage("stopping capture: removing the jumps into the pod's chains")
                    .addKeyValue("pod", pod)
                    .addKeyValue("family", family)
                    .addKeyValue("netns", runner.where())
                    .log();
            restore(runner, pod, family, plan.get(), step);
        }
    }

    @Override
    public List<String> drift(PodNetns netns, String pod, InpodRuleSet rules) throws RedirectException {
        CommandRunner runner = CommandRunner.in(netns);
        List<IpFamily> wanted = families(pod, () -> NetnsFamilies.wanted(netns, rules.ipv6()));
        List<String> out = new ArrayList<>();
        for (IpFamily family : families(pod, () -> NetnsFamilies.present(netns))) {
            List<IptablesTable> tables = wanted.contains(family) ? IptablesRules.tables(rules, family) : List.of();
            Map<String, IptablesSave.Table> current = save(runner, pod, family, "checking iptables rules");
            for (String d :
                    IptablesSync.differences(tables, IptablesRules.OWNED_CHAINS, IptablesRules.TABLES, current)) {
                out.add(family + " " + d);
            }
        }
        return out;
    }

    /** Brings one family to {@code tables}; true if a transaction was needed. */
    private boolean sync(CommandRunner runner, String pod, IpFamily family, List<IptablesTable> tables, String step)
            throws RedirectException {
        Map<String, IptablesSave.Table> current = save(runner, pod, family, step);
        Optional<String> plan = IptablesSync.plan(tables, IptablesRules.OWNED_CHAINS, IptablesRules.TABLES, current);
        if (plan.isEmpty()) {
            log.atDebug()
                    .setMessage("iptables rules already in place")
                    .addKeyValue("pod", pod)
                    .addKeyValue("family", family)
                    .log();
            return false;
        }
        boolean residue = IptablesSync.hasResidue(IptablesRules.OWNED_CHAINS, IptablesRules.TABLES, current);
        log.atInfo()
                .setMessage(
                        tables.isEmpty()
                                ? "removing iptables rules"
                                : residue ? "repairing drifted iptables rules" : "installing iptables rules")
                .addKeyValue("pod", pod)
                .addKeyValue("family", family)
                .addKeyValue("netns", runner.where())
                .addKeyValue(
                        "drift",
                        residue
                                ? IptablesSync.differences(
                                        tables, IptablesRules.OWNED_CHAINS, IptablesRules.TABLES, current)
                                : List.of())
                .log();
        restore(runner, pod, family, plan.get(), step);
        return true;
    }

    /** Applies {@code plan} to one family with {@code iptables-restore --noflush} (one transaction). */
    private void restore(CommandRunner runner, String pod, IpFamily family, String plan, String step)
            throws RedirectException {
        try {
            runner.run(List.of(family.restoreCommand(), "--noflush"), plan.getBytes(StandardCharsets.UTF_8), timeout)
                    .orThrow();
        } catch (CommandException e) {
            throw new RedirectException(pod, step + " (" + family + ")", e);
        }
    }

    private Map<String, IptablesSave.Table> save(CommandRunner runner, String pod, IpFamily family, String step)
            throws RedirectException {
        try {
            String listing =
                    runner.run(List.of(family.saveCommand()), timeout).orThrow().stdout();
            return IptablesSave.parse(listing);
        } catch (CommandException | IllegalArgumentException e) {
            throw new RedirectException(pod, step + " (" + family + ", reading the current rules)", e);
        }
    }

    @FunctionalInterface
    interface FamilyLookup {
        List<IpFamily> get() throws IOException;
    }

    static List<IpFamily> families(String pod, FamilyLookup lookup) throws RedirectException {
        try {
            return lookup.get();
        } catch (IOException e) {
            throw new RedirectException(pod, "checking the namespace for IPv6", e);
        }
    }
}
