package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.util.internal.MacAddressUtil;
import org.junit.jupiter.api.Test;

class NettyMachineIdTest {
    @Test
    void derivedIdIsAnEui64NettyAcceptsAndDiffersPerNode() {
        String a = NettyMachineId.derive("node-a/ztunnel-x/host");
        String b = NettyMachineId.derive("node-b/ztunnel-y/host");
        assertThat(a).matches("([0-9a-f]{2}:){7}[0-9a-f]{2}").isNotEqualTo(b);
        assertThat(NettyMachineId.derive("node-a/ztunnel-x/host")).as("stable").isEqualTo(a);
        byte[] parsed = MacAddressUtil.parseMAC(a);
        assertThat(parsed).hasSize(8);
        assertThat(parsed[0] & 0x02).as("locally administered").isEqualTo(0x02);
        assertThat(parsed[0] & 0x01).as("unicast").isZero();
    }
}
