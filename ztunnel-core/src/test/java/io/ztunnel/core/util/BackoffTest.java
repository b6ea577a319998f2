package io.ztunnel.core.util;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

class BackoffTest {

    @Test
    void exponentialDoublesUpToItsCap() {
        Backoff b = Backoff.exponential(Duration.ofMillis(10), Duration.ofSeconds(15), 0);
        assertThat(b.delay(1)).isEqualTo(Duration.ofMillis(10));
        assertThat(b.delay(2)).isEqualTo(Duration.ofMillis(20));
        assertThat(b.delay(3)).isEqualTo(Duration.ofMillis(40));
        assertThat(b.delay(11)).isEqualTo(Duration.ofMillis(10_240));
        assertThat(b.delay(12)).isEqualTo(Duration.ofSeconds(15));
        assertThat(b.delay(1_000)).isEqualTo(Duration.ofSeconds(15));
    }

    @RepeatedTest(20)
    void jitterStaysWithinItsFractionAndUnderTheCap() {
        Backoff b = Backoff.exponential(Duration.ofMillis(500), Duration.ofSeconds(150), 0.2);
        assertThat(b.delay(1)).isBetween(Duration.ofMillis(400), Duration.ofMillis(600));
        assertThat(b.delay(2)).isBetween(Duration.ofMillis(800), Duration.ofMillis(1200));
        assertThat(b.delay(30)).isBetween(Duration.ofSeconds(120), Duration.ofSeconds(150));
    }

    @Test
    void constantNeverChanges() {
        Backoff b = Backoff.constant(Duration.ofSeconds(5));
        assertThat(b.delay(1)).isEqualTo(Duration.ofSeconds(5));
        assertThat(b.delay(50)).isEqualTo(Duration.ofSeconds(5));
    }

    @Test
    void rejectsNonsense() {
        assertThatThrownBy(() -> Backoff.exponential(Duration.ZERO, Duration.ofSeconds(1), 0))
                .hasMessageContaining("0 < initial <= max");
        assertThatThrownBy(() -> Backoff.exponential(Duration.ofSeconds(2), Duration.ofSeconds(1), 0))
                .hasMessageContaining("0 < initial <= max");
        assertThatThrownBy(() -> Backoff.exponential(Duration.ofSeconds(1), Duration.ofSeconds(2), 1.5))
                .hasMessageContaining("jitter");
        assertThatThrownBy(() -> Backoff.constant(Duration.ofSeconds(1)).delay(0))
                .hasMessageContaining("attempt 0");
    }
}
