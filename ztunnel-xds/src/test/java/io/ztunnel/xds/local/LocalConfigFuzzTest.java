package io.ztunnel.xds.local;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.ztunnel.xds.testing.FuzzBounds;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fuzzes the local config parser ({@code LOCAL_XDS_PATH} files): any bytes either parse or are rejected with a
 * {@link LocalConfigException} that says why; nothing else escapes, and allocation stays proportionate to the input
 * ({@link FuzzBounds}). Kept inputs (seeds and past findings) are in the test resources under
 * {@code io/ztunnel/xds/local/LocalConfigFuzzTestInputs/parsesOrRejects}. Longer runs: README "Reliability".
 */
class LocalConfigFuzzTest {
    private static final Logger log = LoggerFactory.getLogger(LocalConfigFuzzTest.class);
    private static final AtomicLong executions = new AtomicLong();

    @FuzzTest(maxDuration = "10m")
    void parsesOrRejects(byte[] input) {
        executions.incrementAndGet();
        FuzzBounds.check(input.length, 4096, () -> {
            try {
                if (LocalConfigParser.parseBytes(input, "fuzz") == null) {
                    throw new AssertionError("parse returned null");
                }
            } catch (LocalConfigException expected) {
                if (expected.getMessage() == null || expected.getMessage().isBlank()) {
                    throw new AssertionError("rejection without a message", expected);
                }
            }
        });
    }

    @AfterAll
    static void report() {
        log.atInfo()
                .addKeyValue("target", LocalConfigFuzzTest.class.getSimpleName())
                .addKeyValue("executions", executions.get())
                .log("fuzz target finished");
    }
}
