package io.ztunnel.core.util;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class DrainTest {
    private final Drain drain = new Drain();
    private final List<String> ran = new ArrayList<>();

    @Test
    void startRunsEveryRegisteredActionOnceInOrder() {
        drain.onStart("a", () -> ran.add("a"));
        drain.onStart("b", () -> ran.add("b"));
        drain.start();
        drain.start();
        assertThat(ran).containsExactly("a", "b");
        assertThat(drain.isDraining()).isTrue();
    }

    @Test
    void anActionRegisteredAfterTheStartRunsAtOnce() {
        drain.start();
        drain.onStart("late", () -> ran.add("late"));
        assertThat(ran).containsExactly("late");
    }

    @Test
    void aWithdrawnActionDoesNotRun() {
        Subscription s = drain.onStart("gone", () -> ran.add("gone"));
        drain.onStart("kept", () -> ran.add("kept"));
        s.close();
        drain.start();
        assertThat(ran).containsExactly("kept");
    }

    @Test
    void aFailingActionDoesNotStopTheOthers() {
        drain.onStart("bad", () -> {
            throw new IllegalStateException("boom");
        });
        drain.onStart("good", () -> ran.add("good"));
        drain.start();
        assertThat(ran).containsExactly("good");
    }

    @Test
    void theDrainIsIdleOnceStartedAndEveryLeaseIsClosed() {
        Subscription first = drain.track();
        Subscription second = drain.track();
        assertThat(drain.whenIdle()).isNotDone();
        first.close();
        first.close(); // closing twice counts once
        drain.start();
        assertThat(drain.inFlight()).isEqualTo(1);
        assertThat(drain.whenIdle()).isNotDone();
        second.close();
        assertThat(drain.whenIdle()).isDone();
        assertThat(drain.awaitIdle(Duration.ZERO)).isTrue();
    }

    @Test
    void noWorkInFlightIsNotIdleBeforeTheStart() {
        assertThat(drain.awaitIdle(Duration.ofMillis(10))).isFalse();
        drain.start();
        assertThat(drain.awaitIdle(Duration.ofMillis(10))).isTrue();
    }

    @Test
    void awaitingGivesUpAtTheDeadlineWhileWorkIsInFlight() {
        drain.track();
        drain.start();
        assertThat(drain.awaitIdle(Duration.ofMillis(20))).isFalse();
    }
}
