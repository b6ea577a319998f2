package io.ztunnel.core.state;

import static io.ztunnel.core.state.Fixtures.ip;
import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class NetworkAddressTest {
    @Test
    void theSameAddressOnTheSameNetworkIsOneKey() throws Exception {
        NetworkAddress byName = new NetworkAddress("", ip("10.0.3.7"));
        NetworkAddress byBytes = new NetworkAddress("", InetAddress.getByAddress(new byte[] {10, 0, 3, 7}));
        assertThat(byBytes).isEqualTo(byName).hasSameHashCodeAs(byName);
        assertThat(new NetworkAddress("net2", ip("10.0.3.7"))).isNotEqualTo(byName);
        assertThat(new NetworkAddress("", ip("fd00::1"))).isEqualTo(new NetworkAddress("", ip("fd00:0::1")));
        assertThat(byName).hasToString("/10.0.3.7");
    }

    @Test
    void consecutiveAddressesHaveScatteredHashes() {
        // A cluster's pod addresses are consecutive; their keys must not be (the state's immutable maps probe
        // linearly, and a run of consecutive hashes is walked by every miss).
        Set<Integer> lowBits = new HashSet<>();
        for (int i = 0; i < 256; i++) {
            lowBits.add(new NetworkAddress("", ip("10.0.0." + i)).hashCode() & 0xff00);
        }
        assertThat(lowBits).as("bits 8-15 of 256 consecutive addresses' hashes").hasSizeGreaterThan(100);
    }

    @Test
    void aStateWithTenThousandConsecutivePodsFindsEachAndMissesOthers() {
        List<Workload> pods = new ArrayList<>();
        for (int i = 0; i < 10_000; i++) {
            pods.add(Fixtures.pod("ns", "pod-" + i, "10.1." + (i >> 8) + "." + (i & 0xff))
                    .build());
        }
        ProxyState state = Fixtures.state(pods, List.of());
        for (int i = 0; i < 10_000; i += 97) {
            Workload w = state.workloadByAddress(new NetworkAddress("", ip("10.1." + (i >> 8) + "." + (i & 0xff))));
            assertThat(w).isNotNull();
            assertThat(w.name()).isEqualTo("pod-" + i);
        }
        assertThat(state.workloadByAddress(new NetworkAddress("", ip("10.1.200.1"))))
                .isNull();
        assertThat(state.workloadByAddress(new NetworkAddress("other", ip("10.1.0.1"))))
                .isNull();
    }
}
