package io.ztunnel.core.demo;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A cluster made of network namespaces on one machine, as in Istio ztunnel's namespaced tests: a "fabric" namespace
 * holding a bridge (the machine's own network namespace is never touched: no interface, address or route is added
 * there); one namespace per node, attached to the bridge ({@code 172.31.0.<n>/16}); one namespace per pod,
 * attached to its node by a veth pair with point-to-point routes (pod {@code 10.<s>.<n>.<p>}, node side
 * {@code 10.<s>.<n>.1}); nodes route each other's pod subnets over the bridge. Names carry a random tag so several
 * topologies can coexist; {@link #close()} deletes everything it created, even after a partial setup.
 *
 * <p>Needs root. Not thread-safe: build it from one thread.
 */
public final class Topology implements AutoCloseable {
    private static final String BRIDGE = "br0";
    private final String tag;
    private final int subnet;
    private final String fabric;
    private final Map<String, Node> nodes = new LinkedHashMap<>();
    private final List<String> namespaces = new ArrayList<>();

    /** A node: its namespace name, bridge IP, and pod subnet prefix. */
    public record Node(String name, String netns, int index, String ip) {
        public String podSubnet(int subnet) {
            return "10." + subnet + "." + index + ".0/24";
        }
    }

    /** A pod: its namespace name (under /var/run/netns), node, and IP. */
    public record Pod(String name, String netns, Node node, String ip) {
        public String netnsPath() {
            return "/var/run/netns/" + netns;
        }
    }

    public Topology() {
        this.tag = Integer.toHexString(ThreadLocalRandom.current().nextInt(0x1000, 0xffff));
        this.subnet = 100 + ThreadLocalRandom.current().nextInt(100);
        this.fabric = "zt-" + tag + "-fabric";
        Shell.check("ip", "netns", "add", fabric);
        namespaces.add(fabric);
        Shell.inNetns(fabric, "ip", "link", "set", "lo", "up");
        Shell.inNetns(fabric, "ip", "link", "add", BRIDGE, "type", "bridge");
        Shell.inNetns(fabric, "ip", "link", "set", BRIDGE, "up");
    }

    public String tag() {
        return tag;
    }

    /** Adds node number {@code index} (1..200). */
    public Node addNode(String name, int index) {
        String ns = "zt-" + tag + "-" + name;
        Shell.check("ip", "netns", "add", ns);
        namespaces.add(ns);
        // The veth pair is created between the fabric and the node namespace, never in the machine's own.
        String port = "n" + index;
        Shell.check("ip", "-n", fabric, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns);
        Shell.inNetns(fabric, "ip", "link", "set", port, "master", BRIDGE);
        Shell.inNetns(fabric, "ip", "link", "set", port, "up");
        String ip = "172.31.0." + index;
        Shell.inNetns(ns, "ip", "link", "set", "lo", "up");
        Shell.inNetns(ns, "ip", "addr", "add", ip + "/16", "dev", "eth0");
        Shell.inNetns(ns, "ip", "link", "set", "eth0", "up");
        Shell.inNetns(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1");
        Shell.inNetns(ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0");
        Shell.inNetns(ns, "sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0");
        Node node = new Node(name, ns, index, ip);
        for (Node other : nodes.values()) {
            Shell.inNetns(ns, "ip", "route", "add", other.podSubnet(subnet), "via", other.ip());
            Shell.inNetns(other.netns(), "ip", "route", "add", node.podSubnet(subnet), "via", node.ip());
        }
        nodes.put(name, node);
        return node;
    }

    /** Adds pod number {@code index} (2..254) on {@code node}. */
    public Pod addPod(Node node, String name, int index) {
        String ns = "zt-" + tag + "-" + name;
        Shell.check("ip", "netns", "add", ns);
        namespaces.add(ns);
        String outer = "ztp" + tag + node.index() + "x" + index;
        Shell.check(
                "ip", "link", "add", outer, "netns", node.netns(), "type", "veth", "peer", "name", "eth0", "netns", ns);
        String gateway = "10." + subnet + "." + node.index() + ".1";
        String ip = "10." + subnet + "." + node.index() + "." + index;
        Shell.inNetns(node.netns(), "sysctl", "-qw", "net.ipv4.conf." + outer + ".rp_filter=0");
        Shell.inNetns(node.netns(), "ip", "addr", "add", gateway + "/32", "dev", outer);
        Shell.inNetns(node.netns(), "ip", "link", "set", outer, "up");
        Shell.inNetns(node.netns(), "ip", "route", "add", ip + "/32", "dev", outer);
        Shell.inNetns(ns, "ip", "link", "set", "lo", "up");
        Shell.inNetns(ns, "ip", "addr", "add", ip + "/32", "dev", "eth0");
        Shell.inNetns(ns, "ip", "link", "set", "eth0", "up");
        Shell.inNetns(ns, "ip", "route", "add", gateway, "dev", "eth0");
        Shell.inNetns(ns, "ip", "route", "add", "default", "via", gateway, "dev", "eth0");
        return new Pod(name, ns, node, ip);
    }

    /** The IP a service VIP can use (routed nowhere; only capture makes it work). */
    public String vip(int n) {
        return "10." + subnet + ".250." + n;
    }

    public Map<String, Node> nodes() {
        return Map.copyOf(nodes);
    }

    @Override
    public void close() {
        for (int i = namespaces.size() - 1; i >= 0; i--) {
            Shell.quietly("ip", "netns", "del", namespaces.get(i));
        }
    }
}
