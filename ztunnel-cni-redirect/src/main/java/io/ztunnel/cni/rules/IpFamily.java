package io.ztunnel.cni.rules;

import java.net.InetAddress;

/**
 * IPv4 or IPv6, and what differs between them in the rules: the tools, the loopback prefix the
 * rules exempt, the probe SNAT address, and the ip-route default prefix. Immutable.
 */
public enum IpFamily {
    V4("iptables-restore", "iptables-save", "-4", "127.0.0.1/32", "0.0.0.0/0"),
    V6("ip6tables-restore", "ip6tables-save", "-6", "::1/128", "::/0");

    private final String restoreCommand;
    private final String saveCommand;
    private final String ipFlag;
    private final String loopback;
    private final String anyPrefix;

    IpFamily(String restoreCommand, String saveCommand, String ipFlag, String loopback, String anyPrefix) {
        this.restoreCommand = restoreCommand;
        this.saveCommand = saveCommand;
        this.ipFlag = ipFlag;
        this.loopback = loopback;
        this.anyPrefix = anyPrefix;
    }

    public String restoreCommand() {
        return restoreCommand;
    }

    public String saveCommand() {
        return saveCommand;
    }

    /** {@code -4} or {@code -6} for the {@code ip} tool. */
    public String ipFlag() {
        return ipFlag;
    }

    /** The loopback prefix as the rules write it: {@code 127.0.0.1/32} or {@code ::1/128}. */
    public String loopback() {
        return loopback;
    }

    /** {@code 0.0.0.0/0} or {@code ::/0}. */
    public String anyPrefix() {
        return anyPrefix;
    }

    /** The probe SNAT address of this family, as the rules write it. */
    public String probeAddress(InpodRuleSet rules) {
        InetAddress a = this == V4 ? rules.probeSnatV4() : rules.probeSnatV6();
        return Addresses.format(a);
    }
}
