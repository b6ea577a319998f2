package io.ztunnel.core.control;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.InvalidProtocolBufferException;
import io.ztunnel.xds.proto.security.Authorization;
import io.ztunnel.xds.proto.workload.Address;
import io.ztunnel.xds.testing.FuzzBounds;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fuzzes the conversion of xDS resources into the model ({@link ProtoConverter}), as pushed by a control plane: the
 * first byte picks the resource type ({@code Address} holding a workload or a service, or {@code Authorization}), the
 * rest is decoded as that protobuf message (inputs protobuf itself rejects are skipped), then converted. Properties:
 * conversion returns a value or throws a {@link ConversionException} with a message (the resource is NACKed by name),
 * nothing else escapes, and allocation stays proportionate to the input ({@link FuzzBounds}). Longer runs: README
 * "Reliability".
 */
class XdsConversionFuzzTest {
    private static final Logger log = LoggerFactory.getLogger(XdsConversionFuzzTest.class);
    private static final AtomicLong executions = new AtomicLong();

    @FuzzTest(maxDuration = "10m")
    void convertsOrRejects(byte[] input) {
        executions.incrementAndGet();
        if (input.length == 0) {
            return;
        }
        byte[] message = Arrays.copyOfRange(input, 1, input.length);
        FuzzBounds.check(input.length, 4096, () -> {
            try {
                Object converted = switch (input[0] & 1) {
                    case 0 -> {
                        Address a = Address.parseFrom(message);
                        yield a.hasWorkload()
                                ? ProtoConverter.workload(a.getWorkload())
                                : a.hasService() ? ProtoConverter.service(a.getService()) : "empty";
                    }
                    default -> ProtoConverter.authorization(Authorization.parseFrom(message));
                };
                if (converted == null) {
                    throw new AssertionError("conversion returned null");
                }
            } catch (InvalidProtocolBufferException e) {
                // not a message of that type: protobuf's own check, before ours
            } catch (ConversionException e) {
                if (e.getMessage() == null || e.getMessage().isBlank()) {
                    throw new AssertionError("rejection without a message", e);
                }
            }
        });
    }

    @AfterAll
    static void report() {
        log.atInfo()
                .addKeyValue("target", XdsConversionFuzzTest.class.getSimpleName())
                .addKeyValue("executions", executions.get())
                .log("fuzz target finished");
    }
}
