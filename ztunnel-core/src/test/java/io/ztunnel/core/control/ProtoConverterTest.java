package io.ztunnel.core.control;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import io.ztunnel.xds.proto.workload.NetworkAddress;
import io.ztunnel.xds.proto.workload.Service;
import java.net.InetAddress;
import org.junit.jupiter.api.Test;

/** Conversion cases found by review, beyond what the property tests draw. */
class ProtoConverterTest {

    @Test
    void anIpv4MappedVipWithItsFullLengthIsOneAddressNotAPrefix() throws Exception {
        byte[] mapped = new byte[16];
        mapped[10] = (byte) 0xff;
        mapped[11] = (byte) 0xff;
        mapped[12] = 10;
        mapped[15] = 1;
        Service proto = Service.newBuilder()
                .setName("s")
                .setNamespace("ns")
                .setHostname("s.ns.svc.cluster.local")
                .addAddresses(NetworkAddress.newBuilder()
                        .setAddress(ByteString.copyFrom(mapped))
                        .setLength(128))
                .build();
        var service = ProtoConverter.service(proto);
        assertThat(service.cidrVips()).isEmpty();
        assertThat(service.vips())
                .singleElement()
                .satisfies(vip -> assertThat(vip.address()).isEqualTo(InetAddress.getByName("10.0.0.1")));
    }
}
