package io.ztunnel.bench.e2e;

import io.ztunnel.core.demo.Shell;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The reference peer: Debian's stunnel as a mutual-TLS TCP tunnel between the plain client and server pods (client
 * side listens on 127.0.0.1 in the client pod, server side on the server pod's IP, forwarding to the app). TLS 1.3 with
 * AES-128-GCM and P-256 certificates from one throwaway CA, as the daemons use; TCP_NODELAY both sides; no session
 * resumption, so every connection is a full handshake.
 */
record Stunnel(Process server, Process client) {

    String[] pids() {
        return new String[] {String.valueOf(server.pid()), String.valueOf(client.pid())};
    }

    static Stunnel start(Path dir, Harness.Pods pods, int appPort, int serverPort, int clientPort, List<Process> owned)
            throws Exception {
        Path d = Files.createDirectories(dir.resolve("stunnel"));
        openssl(d, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key");
        openssl(d, "req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=bench-ca", "-days", "2", "-out", "ca.pem");
        for (String who : List.of("server", "client")) {
            openssl(d, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", who + ".key");
            openssl(d, "req", "-new", "-key", who + ".key", "-subj", "/CN=" + who, "-out", who + ".csr");
            openssl(
                    d,
                    "x509",
                    "-req",
                    "-in",
                    who + ".csr",
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-out",
                    who + ".pem");
        }
        String common = """
                foreground = yes
                pid =
                debug = 4
                output = %s
                socket = l:TCP_NODELAY=1
                socket = r:TCP_NODELAY=1
                [bench]
                sslVersionMin = TLSv1.3
                ciphersuites = TLS_AES_128_GCM_SHA256
                CAfile = %s/ca.pem
                verifyChain = yes
                """;
        Files.writeString(
                d.resolve("server.conf"),
                common.formatted(d.resolve("server.log"), d)
                        + """
                accept = %s:%d
                connect = %s:%d
                cert = %s/server.pem
                key = %s/server.key
                """.formatted(pods.plainServerIp, serverPort, pods.plainServerIp, appPort, d, d));
        Files.writeString(
                d.resolve("client.conf"),
                common.formatted(d.resolve("client.log"), d)
                        + """
                client = yes
                sessionResume = no
                accept = 127.0.0.1:%d
                connect = %s:%d
                cert = %s/client.pem
                key = %s/client.key
                """.formatted(clientPort, pods.plainServerIp, serverPort, d, d));
        Process server = launch(pods.plainServerNs, d.resolve("server.conf"), owned);
        Process client = launch(pods.plainClientNs, d.resolve("client.conf"), owned);
        awaitListening(pods.plainServerNs, ":" + serverPort, server, d);
        awaitListening(pods.plainClientNs, ":" + clientPort, client, d);
        Harness.log("stunnel up (pids " + server.pid() + ", " + client.pid() + ")");
        return new Stunnel(server, client);
    }

    private static void awaitListening(String netns, String port, Process p, Path d) throws InterruptedException {
        long end = System.nanoTime() + 10_000_000_000L;
        while (!Shell.inNetns(netns, "ss", "-ltnH").contains(port)) {
            if (System.nanoTime() > end || !p.isAlive()) {
                throw new IllegalStateException("stunnel did not start; see " + d);
            }
            Thread.sleep(50);
        }
    }

    private static Process launch(String netns, Path conf, List<Process> owned) throws IOException {
        Process p = new ProcessBuilder("ip", "netns", "exec", netns, "stunnel", conf.toString())
                .redirectErrorStream(true)
                .redirectOutput(conf.resolveSibling(conf.getFileName() + ".out").toFile())
                .start();
        owned.add(p);
        return p;
    }

    private static void openssl(Path dir, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("openssl"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd)
                .directory(dir.toFile())
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IllegalStateException("openssl " + String.join(" ", args) + ": " + out);
        }
    }
}
