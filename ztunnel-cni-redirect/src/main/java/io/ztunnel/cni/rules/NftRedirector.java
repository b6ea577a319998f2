package io.ztunnel.cni.rules;

import io.ztunnel.cni.exec.CommandException;
import io.ztunnel.cni.exec.CommandResult;
import io.ztunnel.cni.exec.CommandRunner;
import io.ztunnel.cni.linux.NetnsId;
import io.ztunnel.cni.linux.PodNetns;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The in-pod redirection with native nftables: {@link NftRules#script} run as one {@code nft -f -}
 * transaction inside the pod's namespace (our three tables deleted and recreated atomically), plus
 * {@link PolicyRouting}. Applying twice gives the same ruleset; removing deletes the tables.
 *
 * <p>Drift detection compares the stateless listing ({@code nft -s list table}) of our tables with
 * the listing taken right after this instance last applied them in that namespace. nft prints rules
 * in its own normalised syntax, which differs between nft versions, so there is no version-proof way
 * to predict the listing from the script; a namespace this instance has not programmed therefore
 * always counts as drifted, and applying is cheap and atomic.
 *
 * <p>Thread-safe: the only state is the listing per netns id, in a concurrent map. Owns no fds.
 */
public final class NftRedirector implements InpodRedirector {
    private static final Logger log = LoggerFactory.getLogger(NftRedirector.class);

    private final Duration timeout;
    private final Map<NetnsId, String> appliedListing = new ConcurrentHashMap<>();

    public NftRedirector() {
        this(Duration.ofSeconds(10));
    }

    public NftRedirector(Duration commandTimeout) {
        this.timeout = commandTimeout;
    }

    @Override
    public boolean apply(PodNetns netns, String pod, InpodRuleSet rules) throws RedirectException {
        CommandRunner runner = CommandRunner.in(netns);
        List<IpFamily> wanted = IptablesRedirector.families(pod, () -> NetnsFamilies.wanted(netns, rules.ipv6()));
        List<IpFamily> present = IptablesRedirector.families(pod, () -> NetnsFamilies.present(netns));
        try {
            PolicyRouting.add(runner, wanted, timeout);
            List<IpFamily> unwanted = new ArrayList<>(present);
            unwanted.removeAll(wanted);
            PolicyRouting.remove(runner, unwanted, timeout);
        } catch (CommandException e) {
            throw new RedirectException(pod, "setting up policy routing", e);
        }
        String script = NftRules.script(rules, wanted.contains(IpFamily.V6));
        try {
            runner.run(List.of("nft", "-f", "-"), script.getBytes(StandardCharsets.UTF_8), timeout)
                    .orThrow();
            appliedListing.put(netns.id(), listing(runner));
        } catch (CommandException e) {
            throw new RedirectException(pod, "applying nftables rules", e);
        }
        log.atInfo()
                .setMessage("installed nftables rules")
                .addKeyValue("pod", pod)
                .addKeyValue("netns", runner.where())
                .addKeyValue("families", wanted)
                .log();
        return true;
    }

    @Override
    public void remove(PodNetns netns, String pod) throws RedirectException {
        CommandRunner runner = CommandRunner.in(netns);
        List<IpFamily> present = IptablesRedirector.families(pod, () -> NetnsFamilies.present(netns));
        try {
            runner.run(List.of("nft", "-f", "-"), NftRules.deleteScript().getBytes(StandardCharsets.UTF_8), timeout)
                    .orThrow();
        } catch (CommandException e) {
            throw new RedirectException(pod, "removing nftables rules", e);
        }
        appliedListing.remove(netns.id());
        try {
            PolicyRouting.remove(runner, present, timeout);
        } catch (CommandException e) {
            throw new RedirectException(pod, "removing policy routing", e);
        }
    }

    @Override
    public void stopCapture(PodNetns netns, String pod) throws RedirectException {
        try {
            CommandRunner.in(netns)
                    .run(List.of("nft", "-f", "-"), NftRules.unhookScript().getBytes(StandardCharsets.UTF_8), timeout)
                    .orThrow();
        } catch (CommandException e) {
            throw new RedirectException(pod, "stopping the nftables capture", e);
        }
        appliedListing.remove(netns.id());
    }

    @Override
    public List<String> drift(PodNetns netns, String pod, InpodRuleSet rules) throws RedirectException {
        String expected = appliedListing.get(netns.id());
        if (expected == null) {
            return List.of("nftables rules were not applied by this agent");
        }
        try {
            String now = listing(CommandRunner.in(netns));
            return now.equals(expected) ? List.of() : List.of("nftables tables differ from what was applied");
        } catch (CommandException e) {
            throw new RedirectException(pod, "checking nftables rules", e);
        }
    }

    /** The stateless listing of our tables; a missing table lists as "absent". */
    private String listing(CommandRunner runner) throws CommandException {
        StringBuilder sb = new StringBuilder();
        for (String table : NftRules.TABLES) {
            CommandResult r = runner.run(List.of("nft", "-s", "list", "table", "inet", table), timeout);
            if (r.succeeded()) {
                sb.append(r.stdout());
            } else if (r.stderr().contains("No such file or directory")) {
                sb.append("table inet ").append(table).append(" absent\n");
            } else {
                r.orThrow();
            }
        }
        return sb.toString();
    }
}
