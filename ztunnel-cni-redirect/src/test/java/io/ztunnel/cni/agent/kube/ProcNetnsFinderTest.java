package io.ztunnel.cni.agent.kube;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import org.junit.jupiter.api.Test;

/** Reading a namespace's local addresses from {@code /proc/<pid>/net} (as the kernel prints them). */
class ProcNetnsFinderTest {
    @Test
    void fibTrieGivesOnlyTheHostLocalAddresses() {
        String fibTrie = """
        Main:
          +-- 0.0.0.0/0 3 0 5
             |-- 0.0.0.0
                /0 universe UNICAST
             +-- 10.244.1.0/24 2 0 2
                |-- 10.244.1.0
                   /24 link UNICAST
                |-- 10.244.1.17
                   /32 host LOCAL
                |-- 10.244.1.255
                   /32 link BROADCAST
             |-- 127.0.0.1
                /32 host LOCAL
        Local:
          +-- 0.0.0.0/0 3 0 5
             |-- 10.244.1.17
                /32 host LOCAL
        """;
        assertThat(ProcNetnsFinder.parseFibTrie(fibTrie))
                .containsExactly(InetAddress.ofLiteral("10.244.1.17"), InetAddress.ofLiteral("127.0.0.1"));
    }

    @Test
    void ifInet6GivesEveryAddressAndSkipsGarbage() {
        String ifInet6 = """
        00000000000000000000000000000001 01 80 10 80       lo
        fd0000000000000000000000000a0011 02 40 00 80     eth0
        fe80000000000000c8a1b2fffec3d4e5 02 40 20 80     eth0
        not-an-address
        """;
        assertThat(ProcNetnsFinder.parseIfInet6(ifInet6))
                .containsExactly(
                        InetAddress.ofLiteral("::1"),
                        InetAddress.ofLiteral("fd00::a:11"),
                        InetAddress.ofLiteral("fe80::c8a1:b2ff:fec3:d4e5"));
    }
}
