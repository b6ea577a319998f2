package io.ztunnel.cni.zds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class BackoffTest {
    @Test
    void startsAt10msDoublesAndCapsAt15s() {
        Backoff backoff = new Backoff(Backoff.DEFAULT_INITIAL, Backoff.DEFAULT_MAX);
        List<Long> millis = new ArrayList<>();
        for (int i = 0; i < 14; i++) {
            millis.add(backoff.next().toMillis());
        }
        assertThat(millis)
                .containsExactly(
                        10L, 20L, 40L, 80L, 160L, 320L, 640L, 1280L, 2560L, 5120L, 10240L, 15000L, 15000L, 15000L);
    }

    @Test
    void resetStartsOverAfterASuccessfulConnection() {
        Backoff backoff = new Backoff(Duration.ofMillis(10), Duration.ofSeconds(15));
        backoff.next();
        backoff.next();
        backoff.reset();
        assertThat(backoff.next()).isEqualTo(Duration.ofMillis(10));
    }

    @Test
    void rejectsAMaximumBelowTheInitialDelay() {
        assertThatThrownBy(() -> new Backoff(Duration.ofSeconds(2), Duration.ofSeconds(1)))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
