package io.ztunnel.cni.rules;

import io.ztunnel.cni.exec.CommandException;
import io.ztunnel.cni.exec.CommandResult;
import io.ztunnel.cni.exec.CommandRunner;
import java.time.Duration;
import java.util.List;

/**
 * The policy routing inside a pod that returns the app's replies on the daemon's spoofed-source
 * connections to the daemon: {@code ip rule add fwmark 0x111/0xfff pref 32764 lookup 100} and
 * {@code ip route replace local 0.0.0.0/0 dev lo table 100} (and {@code ::/0} for IPv6). Adding
 * what exists and removing what is gone are not errors. Stateless.
 */
public final class PolicyRouting {
    static final String FWMARK = "0x111/0xfff";
    static final String PRIORITY = "32764";
    static final String TABLE = "100";

    private PolicyRouting() {}

    /** Adds the rule (EEXIST ignored) and replaces the route, per family. */
    public static void add(CommandRunner runner, List<IpFamily> families, Duration timeout) throws CommandException {
        for (IpFamily f : families) {
            CommandResult rule = runner.run(ruleCommand(f, "add"), timeout);
            if (!rule.succeeded() && !rule.stderr().contains("File exists")) {
                rule.orThrow();
            }
            runner.run(
                            List.of(
                                    "ip",
                                    f.ipFlag(),
                                    "route",
                                    "replace",
                                    "local",
                                    f.anyPrefix(),
                                    "dev",
                                    "lo",
                                    "table",
                                    TABLE),
                            timeout)
                    .orThrow();
        }
    }

    /** Deletes the rule and the route, per family; "not found" answers are ignored. */
    public static void remove(CommandRunner runner, List<IpFamily> families, Duration timeout) throws CommandException {
        for (IpFamily f : families) {
            ignoreAbsent(runner.run(ruleCommand(f, "del"), timeout));
            ignoreAbsent(runner.run(
                    List.of("ip", f.ipFlag(), "route", "del", "local", f.anyPrefix(), "dev", "lo", "table", TABLE),
                    timeout));
        }
    }

    private static List<String> ruleCommand(IpFamily f, String verb) {
        return List.of("ip", f.ipFlag(), "rule", verb, "fwmark", FWMARK, "pref", PRIORITY, "lookup", TABLE);
    }

    private static void ignoreAbsent(CommandResult r) throws CommandException {
        if (r.succeeded()) {
            return;
        }
        String err = r.stderr();
        if (err.contains("No such file or directory")
                || err.contains("No such process")
                || err.contains("FIB table does not exist")
                || err.contains("Cannot find")) {
            return;
        }
        r.orThrow();
    }
}
