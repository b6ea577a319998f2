package io.ztunnel.cni.zds;

import static org.assertj.core.api.Assertions.assertThat;

import io.ztunnel.cni.zds.proto.WorkloadResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/**
 * What our encoder puts on the wire, compared with bytes written by hand from the field numbers
 * istio-cni and ztunnel use; a renumbered field in zds.proto breaks these.
 */
class ZdsCodecTest {
    @Test
    void helloIsVersionFieldOneSetToV1() {
        assertThat(Wire.hex(ZdsCodec.hello())).isEqualTo("08 01");
    }

    @Test
    void ackIsAnEmptyAckMessageInFieldOne() {
        assertThat(Wire.hex(ZdsCodec.ack())).isEqualTo("0a 00");
    }

    @Test
    void nackCarriesTheErrorInAckFieldOne() {
        assertThat(Wire.hex(ZdsCodec.nack("boom"))).isEqualTo("0a 06 0a 04 62 6f 6f 6d");
    }

    @Test
    void requestsUseIstiosFieldNumbers() {
        assertThat(Wire.hex(ZdsCodec.add("u1", new WorkloadInfo("web", "default", "sa"))))
                .isEqualTo(Wire.hex(Wire.add("u1", "web", "default", "sa")))
                .isEqualTo("0a 18 0a 02 75 31 12 12 0a 03 77 65 62 12 07 64 65 66 61 75 6c 74 1a 02 73 61");
        assertThat(Wire.hex(ZdsCodec.keep("u1"))).isEqualTo("2a 04 0a 02 75 31");
        assertThat(Wire.hex(ZdsCodec.del("u1")))
                .as("DelWorkload.uid is field 2")
                .isEqualTo("12 04 12 02 75 31");
        assertThat(Wire.hex(ZdsCodec.snapshotSent())).isEqualTo("1a 00");
    }

    @Test
    void aHugeErrorIsCutSoTheNackFitsInOneDatagram() throws Exception {
        String error = "é".repeat(2000); // 2 bytes each in UTF-8
        byte[] nack = ZdsCodec.nack(error);
        assertThat(nack.length).isLessThanOrEqualTo(1024);
        String decoded = WorkloadResponse.parseFrom(nack).getAck().getError();
        assertThat(decoded).endsWith("...").startsWith("éé");
        assertThat(decoded.getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(1008);
    }

    @Test
    void anEmptyErrorTextStillMakesANack() throws Exception {
        assertThat(WorkloadResponse.parseFrom(ZdsCodec.nack("")).getAck().getError())
                .isNotEmpty();
    }
}
