package io.ztunnel.metrics;

import com.sun.management.UnixOperatingSystemMXBean;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * {@code process_open_fds} and {@code process_max_fds} (the soft {@code RLIMIT_NOFILE}), read at
 * scrape time. Both families are omitted where the JVM cannot tell (non-Unix platforms), as
 * upstream omits them.
 *
 * <p>Stateless and thread-safe; runs on the scraping thread.
 */
final class ProcessMetrics {
    static final String OPEN_FDS = "process_open_fds";
    static final String MAX_FDS = "process_max_fds";

    static final List<String> FAMILY_NAMES = List.of(OPEN_FDS, MAX_FDS);

    private final @Nullable UnixOperatingSystemMXBean os;

    ProcessMetrics() {
        OperatingSystemMXBean bean = ManagementFactory.getOperatingSystemMXBean();
        this.os = bean instanceof UnixOperatingSystemMXBean unix ? unix : null;
    }

    void writeTo(ExpositionWriter w) throws IOException {
        if (os == null) {
            return;
        }
        long open = os.getOpenFileDescriptorCount();
        if (open >= 0) {
            w.family(OPEN_FDS, ExpositionWriter.Type.GAUGE, "Number of open file descriptors.");
            w.sample(OPEN_FDS, ExpositionWriter.Type.GAUGE, open);
        }
        long max = os.getMaxFileDescriptorCount();
        if (max >= 0) {
            w.family(MAX_FDS, ExpositionWriter.Type.GAUGE, "Maximum number of open file descriptors (soft limit).");
            w.sample(MAX_FDS, ExpositionWriter.Type.GAUGE, max);
        }
    }
}
