package io.ztunnel.core.demo;

import io.ztunnel.cni.agent.NodeAgentMain;
import io.ztunnel.cni.agent.enrollment.EnrollmentPolicy;
import io.ztunnel.cni.agent.enrollment.Namespace;
import io.ztunnel.cni.agent.enrollment.Pod;
import io.ztunnel.cni.linux.PodNetns;
import io.ztunnel.core.app.Main;
import io.ztunnel.core.identity.LocalCa;
import io.ztunnel.core.util.Errors;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * A whole ambient mesh on one machine: a {@link Topology} of node and pod network namespaces, and per node a node
 * agent (local mode) and a ztunnel daemon (in-pod mode), each a separate process in its node's namespace. This object
 * plays the control plane: it writes the daemons' shared local config ({@code mesh.yaml}: workloads, services,
 * policies; a pod's protocol is HBONE when its namespace is enrolled, as istiod does) and each agent's file (the
 * namespaces with their labels and the node's pods). Changing labels or pods rewrites the files; the processes pick
 * the edits up.
 *
 * <p>Needs root. Not thread-safe. {@link #close()} stops the processes and removes every namespace and link.
 */
public final class LocalMesh implements AutoCloseable {
    public static final String DATAPLANE_MODE = "istio.io/dataplane-mode";

    /** A pod to create: its node and index on the node (2..254) pick its IP. */
    public record PodSpec(
            String name, String namespace, String serviceAccount, String node, int index, Map<String, String> labels) {}

    /**
     * A service over pods (by name), with a VIP from the topology; {@code host} null means the Kubernetes name
     * {@code <name>.<namespace>.svc.cluster.local}, anything else is a ServiceEntry-style host.
     */
    public record ServiceSpec(
            String name,
            String namespace,
            int vipIndex,
            int port,
            int targetPort,
            List<String> pods,
            @Nullable String host) {
        public ServiceSpec(String name, String namespace, int vipIndex, int port, int targetPort, List<String> pods) {
            this(name, namespace, vipIndex, port, targetPort, pods, null);
        }
    }

    /**
     * How the processes are started: {@link #JAVA} runs each main class on this JVM's class path with the mesh's JVM
     * flags (tests); {@link #launchers} runs the shipped launcher scripts ({@code bin/ztunnel}: the daemon's own jar,
     * its JVM defaults and AOT cache; {@code bin/ztunnel-node-agent}), the JVM flags going to
     * {@code ZTUNNEL_JAVA_OPTS}.
     *
     * @param daemon the daemon's launcher, or empty for {@link #JAVA}
     * @param agent the node agent's launcher, or empty for {@link #JAVA}
     */
    public record Launch(List<String> daemon, List<String> agent) {
        public static final Launch JAVA = new Launch(List.of(), List.of());

        /** The launchers under {@code bin/} of the checkout or image at {@code root}. */
        public static Launch launchers(Path root) {
            return new Launch(
                    List.of(root.resolve("bin/ztunnel").toString()),
                    List.of(root.resolve("bin/ztunnel-node-agent").toString()));
        }
    }

    private final Path dir;
    private final Launch launch;
    private final Topology topology;
    private final Map<String, Topology.Node> nodes = new LinkedHashMap<>();
    private final Map<String, PodSpec> podSpecs = new LinkedHashMap<>();
    private final Map<String, Topology.Pod> pods = new LinkedHashMap<>();
    private final Map<String, Map<String, String>> namespaces = new TreeMap<>();
    private final List<ServiceSpec> services;
    private final Map<String, String> daemonEnv;
    private final List<String> jvmOptions;
    private final Map<String, ManagedProcess> agents = new LinkedHashMap<>();
    private final Map<String, ManagedProcess> daemons = new LinkedHashMap<>();
    private final Map<String, PodNetns> handles = new LinkedHashMap<>();
    private final List<Path> netnsFiles = new ArrayList<>();
    private final Map<String, String> networks;
    private String policies = "";
    private final Map<String, Map<String, String>> workloadFields = new LinkedHashMap<>();
    private final Map<String, Map<String, String>> serviceFields = new LinkedHashMap<>();

    private LocalMesh(
            Path dir,
            List<ServiceSpec> services,
            Map<String, String> daemonEnv,
            List<String> jvmOptions,
            Launch launch,
            Map<String, String> networks) {
        this.dir = dir;
        this.networks = Map.copyOf(networks);
        this.launch = launch;
        this.topology = new Topology();
        this.services = List.copyOf(services);
        this.daemonEnv = Map.copyOf(daemonEnv);
        this.jvmOptions = List.copyOf(jvmOptions);
    }

    /** Builds the topology, writes the files, starts agents and daemons, and waits until all are ready. */
    public static LocalMesh start(
            Path dir,
            List<String> nodeNames,
            List<PodSpec> pods,
            Map<String, Map<String, String>> namespaceLabels,
            List<ServiceSpec> services,
            Map<String, String> daemonEnv,
            List<String> jvmOptions)
            throws Exception {
        return start(dir, nodeNames, pods, namespaceLabels, services, daemonEnv, jvmOptions, null);
    }

    /**
     * As above; {@code resolvConf}, when given, makes the {@code resolv.conf} of every node and pod namespace (it
     * sees the built topology, e.g. a resolver pod's IP): {@code ip netns exec} mounts {@code /etc/netns/<ns>/} files
     * over {@code /etc/}, so the daemons, and commands run in the pods, read it instead of the machine's own. The
     * files are removed by {@link #close()}.
     */
    public static LocalMesh start(
            Path dir,
            List<String> nodeNames,
            List<PodSpec> pods,
            Map<String, Map<String, String>> namespaceLabels,
            List<ServiceSpec> services,
            Map<String, String> daemonEnv,
            List<String> jvmOptions,
            @Nullable Function<LocalMesh, String> resolvConf)
            throws Exception {
        return start(dir, nodeNames, pods, namespaceLabels, services, daemonEnv, jvmOptions, resolvConf, Launch.JAVA);
    }

    /** As above, starting the daemons and node agents as {@code launch} says. */
    public static LocalMesh start(
            Path dir,
            List<String> nodeNames,
            List<PodSpec> pods,
            Map<String, Map<String, String>> namespaceLabels,
            List<ServiceSpec> services,
            Map<String, String> daemonEnv,
            List<String> jvmOptions,
            @Nullable Function<LocalMesh, String> resolvConf,
            Launch launch)
            throws Exception {
        return start(
                dir, nodeNames, pods, namespaceLabels, services, daemonEnv, jvmOptions, resolvConf, launch, Map.of());
    }

    /**
     * As above, with the nodes in {@code networks} (node name to network name) on their own networks, one network
     * per cluster as in a multi-network mesh: the node's daemon gets it as {@code NETWORK}, the node's pods' workloads
     * (and the daemon's own workload) carry it, and each service's VIP is given on every network of the mesh (each
     * cluster's control plane publishes the service under its hostname, the VIP on its own network). Nodes not named
     * stay on the default (empty) network.
     */
    public static LocalMesh start(
            Path dir,
            List<String> nodeNames,
            List<PodSpec> pods,
            Map<String, Map<String, String>> namespaceLabels,
            List<ServiceSpec> services,
            Map<String, String> daemonEnv,
            List<String> jvmOptions,
            @Nullable Function<LocalMesh, String> resolvConf,
            Launch launch,
            Map<String, String> networks)
            throws Exception {
        for (String n : networks.keySet()) {
            if (!nodeNames.contains(n)) {
                throw new IllegalArgumentException("network given for node " + n + ", which is not in the mesh");
            }
        }
        Files.createDirectories(dir);
        LocalMesh mesh = new LocalMesh(dir, services, daemonEnv, jvmOptions, launch, networks);
        try {
            int index = 1;
            for (String n : nodeNames) {
                mesh.nodes.put(n, mesh.topology.addNode(n, index++));
                Files.createDirectories(dir.resolve(n));
            }
            for (PodSpec p : pods) {
                mesh.podSpecs.put(p.name(), p);
                mesh.pods.put(p.name(), mesh.topology.addPod(mesh.node(p.node()), p.name(), p.index()));
            }
            mesh.namespaces.putAll(namespaceLabels);
            if (resolvConf != null) {
                String text = resolvConf.apply(mesh);
                for (Topology.Node n : mesh.nodes.values()) {
                    mesh.writeNetnsFile(n.netns(), "resolv.conf", text);
                }
                for (Topology.Pod p : mesh.pods.values()) {
                    mesh.writeNetnsFile(p.netns(), "resolv.conf", text);
                }
            }
            LocalCa.loadOrCreate(dir.resolve("ca"), Clock.systemUTC()); // one root, before anyone races for it
            mesh.writeFiles();
            for (String n : nodeNames) {
                mesh.startAgent(n);
            }
            for (String n : nodeNames) {
                mesh.startDaemon(n);
            }
            for (String n : nodeNames) {
                mesh.awaitReady(n, Duration.ofSeconds(120)); // a JVM start on a loaded 2-core machine
            }
            return mesh;
        } catch (Exception | Error e) {
            mesh.close();
            throw e;
        }
    }

    /** Stops the node agent of {@code node} (SIGTERM: the pods keep their rules) and starts a new one. */
    public void restartAgent(String node) {
        ManagedProcess p = agents.remove(node);
        if (p != null) {
            p.stop(30);
        }
        startAgent(node);
    }

    private void startAgent(String node) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("AGENT_LOCAL_CONFIG", dir.resolve(node).resolve("pods.yaml").toString());
        env.put("INPOD_UDS", socket(node).toString());
        env.put("EXCLUDE_NAMESPACES", "kube-system");
        env.put("READINESS_PORT", "8000");
        agents.put(
                node,
                process(
                        "agent-" + node,
                        node,
                        launch.agent(),
                        NodeAgentMain.class.getName(),
                        List.of(),
                        env,
                        dir.resolve(node).resolve("agent.log")));
    }

    private ManagedProcess process(
            String name,
            String node,
            List<String> launcher,
            String mainClass,
            List<String> args,
            Map<String, String> env,
            Path log) {
        String netns = node(node).netns();
        if (launcher.isEmpty()) {
            return ManagedProcess.start(name, netns, mainClass, args, env, jvmOptions, log);
        }
        List<String> command = new ArrayList<>(launcher);
        command.addAll(args);
        Map<String, String> withOptions = new LinkedHashMap<>(env);
        withOptions.put("ZTUNNEL_JAVA_OPTS", String.join(" ", jvmOptions));
        return ManagedProcess.startCommand(name, netns, command, withOptions, log);
    }

    /** Starts (or restarts) the daemon of {@code node}. */
    public void startDaemon(String node) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PROXY_MODE", "shared");
        env.put("INPOD_UDS", socket(node).toString());
        env.put("LOCAL_XDS_PATH", dir.resolve("mesh.yaml").toString());
        env.put("LOCAL_CA_DIR", dir.resolve("ca").toString());
        env.put("NODE_NAME", node);
        env.put("XDS_ADDRESS", "");
        env.put("CA_ADDRESS", "");
        env.put("ZTUNNEL_WORKER_THREADS", "1");
        env.putAll(daemonEnv);
        String network = networks.get(node);
        if (network != null) {
            env.put("NETWORK", network);
        }
        daemons.put(
                node,
                process(
                        "ztunnel-" + node,
                        node,
                        launch.daemon(),
                        Main.class.getName(),
                        List.of("proxy", "ztunnel"),
                        env,
                        dir.resolve(node).resolve("ztunnel.log")));
    }

    /** Stops the daemon of {@code node} (SIGTERM, graceful drain). */
    public void stopDaemon(String node) {
        ManagedProcess p = daemons.remove(node);
        if (p != null) {
            p.stop(30);
        }
    }

    public ManagedProcess daemon(String node) {
        ManagedProcess daemon = daemons.get(node);
        if (daemon == null) {
            throw new IllegalArgumentException("no ztunnel on node " + node + " in the mesh");
        }
        return daemon;
    }

    /** The node agent of {@code node}. */
    public ManagedProcess agent(String node) {
        ManagedProcess agent = agents.get(node);
        if (agent == null) {
            throw new IllegalArgumentException("no node agent on node " + node + " in the mesh");
        }
        return agent;
    }

    /** Waits until the node's daemon answers ready (all its pods' proxies are up). */
    public void awaitReady(String node, Duration timeout) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        String last = "";
        while (System.nanoTime() < end) {
            ManagedProcess daemon = daemons.get(node);
            if (daemon != null && !daemon.isAlive()) {
                throw new IllegalStateException(
                        "ztunnel on " + node + " exited with " + daemon.exitCode() + ":\n" + tail(daemon.output()));
            }
            try {
                last = http(node, 15021, "/healthz/ready");
                if (last.startsWith("HTTP/1.1 200")) {
                    return;
                }
            } catch (IOException e) {
                last = Errors.message(e);
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException("ztunnel on " + node + " not ready: " + last + "\n"
                + tail(daemon(node).output()));
    }

    private static String tail(String text) {
        return text.length() > 4000 ? text.substring(text.length() - 4000) : text;
    }

    private Path socket(String node) {
        return dir.resolve(node).resolve("ztunnel.sock");
    }

    /** Sets a namespace's labels (e.g. {@code istio.io/dataplane-mode=ambient}) and rewrites the files. */
    public void setNamespaceLabels(String namespace, Map<String, String> labels) throws IOException {
        namespaces.put(namespace, Map.copyOf(labels));
        writeFiles();
    }

    /** Replaces the authorization policies (YAML list items under {@code policies:}) and rewrites the config. */
    public void setPolicies(String yaml) throws IOException {
        this.policies = yaml;
        writeFiles();
    }

    /** Removes a pod from its node agent's view (and from the mesh config). */
    public void removePod(String name) throws IOException {
        podSpecs.remove(name);
        writeFiles();
    }

    /**
     * Puts back a pod that {@link #removePod} removed (its namespace, built at start, is still there): its node agent
     * sees it again and the mesh config lists it.
     */
    public void addPod(PodSpec spec) throws IOException {
        pod(spec.name()); // built at start
        podSpecs.put(spec.name(), spec);
        writeFiles();
    }

    /**
     * Gives {@code pod}'s workload an application tunnel ({@code protocol} NONE or PROXY, {@code port} 0 for none) and
     * rewrites the config.
     */
    public void setApplicationTunnel(String pod, String protocol, int port) throws IOException {
        setWorkloadField(pod, "applicationTunnel", "{protocol: " + protocol + ", port: " + port + "}");
    }

    /**
     * Sets one more field of {@code pod}'s workload in the local config, {@code value} being a YAML flow value (e.g.
     * {@code networkGateway}, {@code {destination: "net-b/10.0.0.1", hboneMtlsPort: 15008}}), and rewrites the config.
     */
    public void setWorkloadField(String pod, String field, String value) throws IOException {
        pod(pod); // must exist
        workloadFields.computeIfAbsent(pod, p -> new LinkedHashMap<>()).put(field, value);
        writeFiles();
    }

    /**
     * Sets one more field of the service named {@code service} in the local config, {@code value} being a YAML flow
     * value (e.g. {@code subjectAltNames}, {@code ["spiffe://cluster.local/ns/apps/sa/server"]}), and rewrites the
     * config.
     */
    public void setServiceField(String service, String field, String value) throws IOException {
        if (services.stream().noneMatch(s -> s.name().equals(service))) {
            throw new IllegalArgumentException("no service " + service + " in the mesh");
        }
        serviceFields.computeIfAbsent(service, s -> new LinkedHashMap<>()).put(field, value);
        writeFiles();
    }

    private static void appendFields(StringBuilder yaml, @Nullable Map<String, String> fields) {
        if (fields != null) {
            fields.forEach(
                    (k, v) -> yaml.append("  ").append(k).append(": ").append(v).append('\n'));
        }
    }

    /** The {@code network:} line of a workload on {@code node}, or nothing on the default network. */
    private void appendNetwork(StringBuilder yaml, String node) {
        String network = networks.get(node);
        if (network != null) {
            yaml.append("  network: ").append(network).append('\n');
        }
    }

    /** The IP of {@code node} (its daemon's address). */
    public String nodeIp(String node) {
        return node(node).ip();
    }

    /** The network namespace name of a node. */
    public String nodeNetns(String node) {
        return node(node).netns();
    }

    public Topology.Pod pod(String name) {
        Topology.Pod pod = pods.get(name);
        if (pod == null) {
            throw new IllegalArgumentException("no pod " + name + " in the mesh");
        }
        return pod;
    }

    private Topology.Node node(String name) {
        Topology.Node node = nodes.get(name);
        if (node == null) {
            throw new IllegalArgumentException("no node " + name + " in the mesh");
        }
        return node;
    }

    public String vip(int index) {
        return topology.vip(index);
    }

    /** The pod's network namespace, to run test apps inside it. Owned by this mesh. */
    public PodNetns netns(String pod) throws IOException {
        PodNetns handle = handles.get(pod);
        if (handle == null) {
            handle = PodNetns.open(Path.of(pod(pod).netnsPath()));
            handles.put(pod, handle);
        }
        return handle;
    }

    /** A TCP listener on the pod's IP and {@code port}, created inside the pod's namespace; the caller's to close. */
    public ServerSocket listen(String pod, int port) throws IOException {
        String ip = pod(pod).ip();
        return netns(pod).call(() -> {
            ServerSocket s = new ServerSocket();
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(ip, port), 256);
            return s;
        });
    }

    /** An HTTP/1.0 GET to 127.0.0.1:{@code port} inside the node's namespace; the whole response. */
    public String http(String node, int port, String path) throws IOException {
        PodNetns ns = handles.get("node/" + node);
        if (ns == null) {
            ns = PodNetns.open(Path.of("/var/run/netns", node(node).netns()));
            handles.put("node/" + node, ns);
        }
        try (Socket s = ns.call(() -> {
            Socket socket = new Socket();
            socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2000);
            return socket;
        })) {
            s.setSoTimeout(5000);
            s.getOutputStream()
                    .write(("GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n")
                            .getBytes(StandardCharsets.US_ASCII));
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private boolean enrolled(PodSpec p) {
        Pod pod = new Pod(
                uid(p),
                p.name(),
                p.namespace(),
                p.serviceAccount(),
                List.of(ip(pod(p.name()).ip())),
                p.labels(),
                Map.of(),
                false,
                Optional.empty());
        Map<String, String> labels = namespaces.getOrDefault(p.namespace(), Map.of());
        return EnrollmentPolicy.defaults()
                .decide(pod, Optional.of(new Namespace(p.namespace(), labels)))
                .enrolled();
    }

    private static String uid(PodSpec p) {
        return "Kubernetes//Pod/" + p.namespace() + "/" + p.name();
    }

    private static InetAddress ip(String text) {
        try {
            return InetAddress.getByName(text);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /**
     * When the daemons know their own pod ({@code POD_NAME}, {@code POD_NAMESPACE}, {@code SERVICE_ACCOUNT} in the
     * daemon environment), describes each node's daemon as a workload at the node's IP, as istiod describes ztunnel's
     * pods; that is what ztunnel's own inbound presents and serves.
     */
    private void appendZtunnelWorkloads(StringBuilder mesh) {
        String name = daemonEnv.get("POD_NAME");
        String namespace = daemonEnv.get("POD_NAMESPACE");
        String serviceAccount = daemonEnv.get("SERVICE_ACCOUNT");
        if (name == null || namespace == null || serviceAccount == null) {
            return;
        }
        for (Topology.Node node : nodes.values()) {
            mesh.append("- uid: Kubernetes//Pod/")
                    .append(namespace)
                    .append('/')
                    .append(name)
                    .append('-')
                    .append(node.name())
                    .append("\n  name: ")
                    .append(name)
                    .append("\n  namespace: ")
                    .append(namespace)
                    .append("\n  serviceAccount: ")
                    .append(serviceAccount)
                    .append("\n  trustDomain: cluster.local\n  workloadIps: [\"")
                    .append(node.ip())
                    .append("\"]\n  protocol: HBONE\n  node: ")
                    .append(node.name())
                    .append('\n');
            appendNetwork(mesh, node.name());
            mesh.append("  services: {}\n");
        }
    }

    /** Writes mesh.yaml (all daemons) and pods.yaml (each node's agent) atomically. */
    private void writeFiles() throws IOException {
        StringBuilder mesh = new StringBuilder("workloads:\n");
        for (PodSpec p : podSpecs.values()) {
            mesh.append("- uid: ")
                    .append(uid(p))
                    .append('\n')
                    .append("  name: ")
                    .append(p.name())
                    .append('\n')
                    .append("  namespace: ")
                    .append(p.namespace())
                    .append('\n')
                    .append("  serviceAccount: ")
                    .append(p.serviceAccount())
                    .append('\n')
                    .append("  trustDomain: cluster.local\n")
                    .append("  workloadIps: [\"")
                    .append(pod(p.name()).ip())
                    .append("\"]\n")
                    .append("  protocol: ")
                    .append(enrolled(p) ? "HBONE" : "TCP")
                    .append('\n')
                    .append("  node: ")
                    .append(p.node())
                    .append('\n')
                    .append("  canonicalName: ")
                    .append(p.labels().getOrDefault("app", p.name()))
                    .append('\n')
                    .append("  canonicalRevision: ")
                    .append(p.labels().getOrDefault("version", "v1"))
                    .append('\n');
            appendNetwork(mesh, p.node());
            appendFields(mesh, workloadFields.get(p.name()));
            mesh.append("  services:");
            List<ServiceSpec> member =
                    services.stream().filter(s -> s.pods().contains(p.name())).toList();
            if (member.isEmpty()) {
                mesh.append(" {}\n");
            } else {
                mesh.append('\n');
                for (ServiceSpec s : member) {
                    mesh.append("    \"")
                            .append(s.namespace())
                            .append('/')
                            .append(hostname(s))
                            .append("\": {")
                            .append(s.port())
                            .append(": ")
                            .append(s.targetPort())
                            .append("}\n");
                }
            }
        }
        appendZtunnelWorkloads(mesh);
        mesh.append("services:").append(services.isEmpty() ? " []\n" : "\n");
        for (ServiceSpec s : services) {
            mesh.append("- name: ")
                    .append(s.name())
                    .append('\n')
                    .append("  namespace: ")
                    .append(s.namespace())
                    .append('\n')
                    .append("  hostname: ")
                    .append(hostname(s))
                    .append('\n')
                    .append("  vips: [")
                    .append(String.join(
                            ", ",
                            vipNetworks().stream()
                                    .map(n -> "\"" + n + "/" + topology.vip(s.vipIndex()) + "\"")
                                    .toList()))
                    .append("]\n")
                    .append("  ports: {")
                    .append(s.port())
                    .append(": ")
                    .append(s.targetPort())
                    .append("}\n");
            appendFields(mesh, serviceFields.get(s.name()));
        }
        mesh.append("policies:").append(policies.isBlank() ? " []\n" : "\n" + policies);
        atomicWrite(dir.resolve("mesh.yaml"), mesh.toString());

        for (Map.Entry<String, Topology.Node> node : nodes.entrySet()) {
            StringBuilder agent = new StringBuilder("namespaces:\n");
            if (namespaces.isEmpty()) {
                agent.setLength(0);
                agent.append("namespaces: []\n");
            }
            for (Map.Entry<String, Map<String, String>> ns : namespaces.entrySet()) {
                agent.append("- name: ").append(ns.getKey()).append('\n').append("  labels: {");
                agent.append(String.join(
                        ", ",
                        ns.getValue().entrySet().stream()
                                .map(e -> "\"" + e.getKey() + "\": \"" + e.getValue() + "\"")
                                .toList()));
                agent.append("}\n");
            }
            List<PodSpec> local = podSpecs.values().stream()
                    .filter(p -> p.node().equals(node.getKey()))
                    .toList();
            agent.append("pods:").append(local.isEmpty() ? " []\n" : "\n");
            for (PodSpec p : local) {
                agent.append("- name: ")
                        .append(p.name())
                        .append('\n')
                        .append("  namespace: ")
                        .append(p.namespace())
                        .append('\n')
                        .append("  uid: ")
                        .append(p.namespace())
                        .append('-')
                        .append(p.name())
                        .append('\n')
                        .append("  serviceAccount: ")
                        .append(p.serviceAccount())
                        .append('\n')
                        .append("  ips: [\"")
                        .append(pod(p.name()).ip())
                        .append("\"]\n")
                        .append("  netns: ")
                        .append(pod(p.name()).netns())
                        .append('\n')
                        .append("  labels: {");
                agent.append(String.join(
                        ", ",
                        p.labels().entrySet().stream()
                                .map(e -> "\"" + e.getKey() + "\": \"" + e.getValue() + "\"")
                                .toList()));
                agent.append("}\n");
            }
            atomicWrite(dir.resolve(node.getKey()).resolve("pods.yaml"), agent.toString());
        }
    }

    /** The networks a service VIP is given on: each node's, in node order, once. */
    private List<String> vipNetworks() {
        return nodes.keySet().stream()
                .map(n -> networks.getOrDefault(n, ""))
                .distinct()
                .toList();
    }

    public static String hostname(ServiceSpec s) {
        return s.host() != null ? s.host() : s.name() + "." + s.namespace() + ".svc.cluster.local";
    }

    private void writeNetnsFile(String netns, String name, String content) throws IOException {
        Path file = Path.of("/etc/netns", netns, name);
        Files.createDirectories(file.getParent());
        Files.writeString(file, content, StandardCharsets.UTF_8);
        netnsFiles.add(file);
    }

    private void atomicWrite(Path file, String content) throws IOException {
        Path tmp = Files.createTempFile(file.getParent(), ".write", ".yaml");
        Files.writeString(tmp, content, StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The logs of every process, for diagnosing a failure. */
    public String logs() {
        StringBuilder out = new StringBuilder();
        List<ManagedProcess> all = new ArrayList<>(agents.values());
        all.addAll(daemons.values());
        for (ManagedProcess p : all) {
            out.append("==== ")
                    .append(p.name())
                    .append(" ====\n")
                    .append(tail(p.output()))
                    .append('\n');
        }
        return out.toString();
    }

    @Override
    public void close() {
        for (ManagedProcess p : daemons.values()) {
            p.stop(10);
        }
        for (ManagedProcess p : agents.values()) {
            p.stop(10);
        }
        for (PodNetns h : handles.values()) {
            h.close();
        }
        for (Path f : netnsFiles) {
            try {
                Files.deleteIfExists(f);
                Files.deleteIfExists(f.getParent());
            } catch (IOException ignored) {
                // best effort, like the namespaces themselves
            }
        }
        topology.close();
    }
}
