package io.ztunnel.cni.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The skip-or-fail policy of {@link RequiresNetns}. */
class NetnsConditionTest {
    @Test
    void runsWhenNothingIsMissing() {
        assertThat(NetnsCondition.decide(Optional.empty(), true).isDisabled()).isFalse();
        assertThat(NetnsCondition.decide(Optional.empty(), false).isDisabled()).isFalse();
    }

    @Test
    void skipsOutsideCiWhenSomethingIsMissing() {
        var result = NetnsCondition.decide(Optional.of("root (uid 0)"), false);
        assertThat(result.isDisabled()).isTrue();
        assertThat(result.getReason()).contains("needs root (uid 0)");
    }

    @Test
    void failsInsteadOfSkippingInCi() {
        assertThatThrownBy(() -> NetnsCondition.decide(Optional.of("root (uid 0)"), true))
                .hasMessageContaining("CI=true")
                .hasMessageContaining("root (uid 0)");
    }

    @Test
    void reportsAMissingToolByName() {
        Optional<String> missing = NetnsCondition.missingRequirement(List.of("no-such-tool-ztunnel-test"));
        assertThat(missing).isPresent();
        if (NetnsCondition.isRoot()) {
            assertThat(missing.get()).contains("no-such-tool-ztunnel-test");
        }
    }
}
