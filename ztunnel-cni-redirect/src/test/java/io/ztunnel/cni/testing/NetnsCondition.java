package io.ztunnel.cni.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * The {@link RequiresNetns} policy: enabled when the process is root and {@code ip netns} (and the
 * requested tools) work; otherwise disabled, or, under {@code CI=true}, a failure with the reason.
 */
public final class NetnsCondition implements ExecutionCondition {
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        List<String> tools = new ArrayList<>();
        context.getElement()
                .flatMap(e -> AnnotationSupport.findAnnotation(e, RequiresNetns.class))
                .ifPresent(a -> tools.addAll(List.of(a.tools())));
        Optional<String> missing = missingRequirement(tools);
        return decide(missing, "true".equals(System.getenv("CI")));
    }

    /**
     * The decision as a pure function: nothing missing → enabled; missing outside CI → disabled;
     * missing in CI → throw, which JUnit reports as a failed test.
     */
    static ConditionEvaluationResult decide(Optional<String> missing, boolean ci) {
        if (missing.isEmpty()) {
            return ConditionEvaluationResult.enabled("root and ip netns available");
        }
        if (ci) {
            throw new IllegalStateException("CI=true but this network-namespace test cannot run: "
                    + missing.get()
                    + ". CI must run the namespace tests as root with iproute2 and iptables installed.");
        }
        return ConditionEvaluationResult.disabled("needs " + missing.get());
    }

    /** What keeps the tests from running here, if anything. */
    public static Optional<String> missingRequirement(List<String> tools) {
        if (!isRoot()) {
            return Optional.of("root (uid 0)");
        }
        if (!succeeds("ip", "netns", "list")) {
            return Optional.of("a working 'ip netns' (iproute2)");
        }
        for (String tool : tools) {
            if (!onPath(tool)) {
                return Optional.of("'" + tool + "' on PATH");
            }
        }
        return Optional.empty();
    }

    static boolean isRoot() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return line.split("\\s+")[2].equals("0"); // effective uid
                }
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }

    private static boolean onPath(String tool) {
        String path = System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        for (String dir : (path + ":/usr/sbin:/sbin").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }

    private static boolean succeeds(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
