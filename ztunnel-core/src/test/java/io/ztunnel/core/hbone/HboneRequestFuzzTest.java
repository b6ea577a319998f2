package io.ztunnel.core.hbone;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.ztunnel.core.net.HboneAddress;
import io.ztunnel.xds.testing.FuzzBounds;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fuzzes what the inbound HBONE server reads from a CONNECT request's headers: the {@code :authority}
 * ({@link HboneAddress#parse}), {@code baggage} ({@link Baggage#parse}) and {@code forwarded} ({@link Forwarded#host}).
 * Properties: an authority parses or is refused with an {@link IllegalArgumentException} saying why (the server
 * answers 400), and what parses writes back as an authority that parses to the same target; baggage and forwarded are
 * lenient and never throw, and parsed baggage encodes to a header that parses back to it; allocation stays
 * proportionate ({@link FuzzBounds}). Longer runs: README "Reliability".
 */
class HboneRequestFuzzTest {
    private static final Logger log = LoggerFactory.getLogger(HboneRequestFuzzTest.class);
    private static final AtomicLong executions = new AtomicLong();

    @FuzzTest(maxDuration = "10m")
    void parsesHeadersOrRefusesTheAuthority(FuzzedDataProvider data) {
        executions.incrementAndGet();
        String authority = data.consumeString(300);
        String baggage = data.consumeString(600);
        String forwarded = data.consumeRemainingAsString();
        int length = authority.length() + baggage.length() + forwarded.length();
        FuzzBounds.check(length * 4, 1024, () -> {
            authority(authority);
            Baggage parsed = Baggage.parse(baggage);
            Baggage again = Baggage.parse(parsed.encode());
            if (!again.equals(parsed)) {
                throw new AssertionError(
                        "baggage " + parsed + " encodes to " + parsed.encode() + ", read back as " + again);
            }
            String host = Forwarded.host(forwarded);
            if (host != null && (host.isEmpty() || host.length() > forwarded.length())) {
                throw new AssertionError("forwarded host " + host + " from " + forwarded);
            }
        });
    }

    private static void authority(String authority) {
        HboneAddress target;
        try {
            target = HboneAddress.parse(authority);
        } catch (IllegalArgumentException refused) {
            if (refused.getMessage() == null || refused.getMessage().isBlank()) {
                throw new AssertionError("refusal without a reason", refused);
            }
            return;
        }
        HboneAddress again = HboneAddress.parse(target.authority());
        if (!again.equals(target)) {
            throw new AssertionError(authority + " parsed as " + target + ", written as " + target.authority()
                    + ", read back as " + again);
        }
    }

    @AfterAll
    static void report() {
        log.atInfo()
                .addKeyValue("target", HboneRequestFuzzTest.class.getSimpleName())
                .addKeyValue("executions", executions.get())
                .log("fuzz target finished");
    }
}
