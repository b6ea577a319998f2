package io.ztunnel.core.demo;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * dnsmasq (Debian's {@code dnsmasq-base}) as an independent resolver inside a network namespace, for the namespaced
 * DNS tests and the benchmark: no configuration file, no upstream, no {@code /etc/hosts}; it answers
 * {@code external.example} (and its subdomains) with 203.0.113.7 and every other name under {@code example} with
 * NXDOMAIN. Stateless; the returned process is the caller's to stop.
 */
public final class Dnsmasq {
    /** The address {@code external.example} resolves to. */
    public static final String EXTERNAL_ADDRESS = "203.0.113.7";

    private Dnsmasq() {}

    /**
     * Starts dnsmasq in {@code netns} listening on {@code ip}:53, its output in {@code dir/dnsmasq.out}.
     *
     * @param extra more dnsmasq options (e.g. {@code --log-queries}, {@code --addn-hosts=...})
     */
    public static Process start(String netns, String ip, Path dir, List<String> extra) throws IOException {
        List<String> command = new ArrayList<>(List.of(
                "ip",
                "netns",
                "exec",
                netns,
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--listen-address=" + ip,
                "--pid-file=" + dir.resolve("dnsmasq.pid"),
                "--address=/external.example/" + EXTERNAL_ADDRESS,
                "--local=/example/")); // answered here: unknown names are NXDOMAIN, not REFUSED
        command.addAll(extra);
        return new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("dnsmasq.out").toFile())
                .start();
    }
}
