package io.ztunnel.core.app;

import io.ztunnel.core.config.Config;
import io.ztunnel.core.config.ConfigException;
import io.ztunnel.core.util.Errors;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * {@code ztunnel [proxy|version|help]}: starts the daemon from ztunnel's environment variables. Anything after
 * {@code proxy} is accepted and ignored (Istio's chart passes {@code proxy ztunnel}). SIGTERM and SIGINT start a
 * graceful drain; a second SIGINT exits at once. Exit status 1 with one clear line when the configuration or the
 * start fails.
 */
public final class Main {
    public static final String VERSION = Main.class.getPackage().getImplementationVersion() != null
            ? Main.class.getPackage().getImplementationVersion()
            : "0.1.0-SNAPSHOT";

    private Main() {}

    public static void main(String[] args) {
        String command = args.length == 0 ? "proxy" : args[0];
        switch (command) {
            case "version" -> {
                System.out.println("ztunnel-java " + VERSION + " (Java " + Runtime.version() + ")");
                return;
            }
            case "help", "-h", "--help" -> {
                System.out.println("usage: ztunnel [proxy|version|help]; configuration comes from environment "
                        + "variables (see README)");
                return;
            }
            case "proxy" -> {}
            default -> {
                System.err.println("ztunnel: unknown command \"" + command + "\" (expected proxy, version or help)");
                System.exit(2);
            }
        }
        try {
            LogConfig.configure(System.getenv("RUST_LOG"), "json".equals(System.getenv("LOG_FORMAT")));
        } catch (IllegalArgumentException e) {
            System.err.println("ztunnel: RUST_LOG: " + Errors.message(e));
            System.exit(1);
        }
        Logger log = LoggerFactory.getLogger(Main.class);
        Daemon daemon;
        try {
            Config config = Config.fromEnvironment(args);
            NettyMachineId.configure(config.nodeName(), config.podName());
            daemon = Daemon.start(config);
        } catch (ConfigException e) {
            log.atError().addKeyValue("error", Errors.message(e)).log("invalid configuration");
            System.exit(1);
            return;
        } catch (RuntimeException e) {
            // One line naming the cause; the stack trace only for whoever asked for DEBUG.
            log.atError().addKeyValue("error", StartFailure.describe(e)).log("cannot start");
            log.atDebug().setCause(e).log("start failure detail");
            System.exit(1);
            return;
        }
        Thread drainer = Thread.ofPlatform().name("ztunnel-signal").unstarted(daemon::shutdown);
        int[] interrupts = {0};
        Signal.handle(new Signal("TERM"), s -> startOnce(drainer));
        Signal.handle(new Signal("INT"), s -> {
            if (++interrupts[0] > 1) {
                Runtime.getRuntime().halt(130);
            }
            startOnce(drainer);
        });
        daemon.awaitStopped(Duration.ofDays(365 * 100));
        System.exit(0);
    }

    private static synchronized void startOnce(Thread drainer) {
        if (drainer.getState() == Thread.State.NEW) {
            drainer.start();
        }
    }
}
