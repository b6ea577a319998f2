package io.ztunnel.metrics;

import static io.ztunnel.metrics.StrictExpositionParser.requireFamily;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The test parser must reject what a real parser rejects, or the format tests prove nothing. */
class StrictExpositionParserTest {
    private static final ExpositionFormat TEXT = ExpositionFormat.PROMETHEUS_TEXT;
    private static final ExpositionFormat OM = ExpositionFormat.OPENMETRICS;

    @Test
    void acceptsAWellFormedExposition() {
        var families = StrictExpositionParser.parse("""
        # HELP a_total Things.
        # TYPE a_total counter
        a_total{x="1\\\\2\\"3\\n",y="z"} 3
        a_total{x="2"} 4.5e3
        # TYPE g gauge
        g NaN
        """, TEXT);
        assertThat(requireFamily(families, "a_total").samples().getFirst().labels())
                .containsExactly(Map.entry("x", "1\\2\"3\n"), Map.entry("y", "z"));
        assertThat(requireFamily(families, "a_total").help()).isEqualTo("Things.");
        assertThat(requireFamily(families, "g").samples().getFirst().value()).isNaN();
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "a_total 1\n", // no TYPE
                "# TYPE a counter\n# TYPE a counter\na 1\n", // TYPE twice
                "# TYPE a counter\na 1\n# TYPE b gauge\nb 1\n# TYPE a counter\n", // family split
                "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n", // duplicate series
                "# TYPE a gauge\na{x=\"\\t\"} 1\n", // unknown escape
                "# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n", // label twice
                "# TYPE a gauge\na{x=\"1\",} 1\n", // trailing comma
                "# TYPE a gauge\na{x=1} 1\n", // unquoted value
                "# TYPE a gauge\na one\n", // bad number
                "# TYPE a gauge\nb 1\n", // sample outside its family
                "# TYPE a gauge\n\na 1\n", // blank line
                "# just a comment\n# TYPE a gauge\na 1\n", // stray comment
                "# TYPE a gauge\na 1", // no final line feed
                "# TYPE a gauge\na 1\n# EOF\n", // EOF in text format
            })
    void rejectsBrokenTextExpositions(String text) {
        assertThatThrownBy(() -> StrictExpositionParser.parse(text, TEXT)).isInstanceOf(IllegalArgumentException.class);
    }

    @ParameterizedTest
    @ValueSource(
            strings = {
                "# TYPE a counter\na_total 1\n", // no EOF
                "# TYPE a counter\na_total 1\n# EOF\n# TYPE b gauge\n", // content after EOF
                "# TYPE a counter\na 1\n# EOF\n", // counter sample without _total
                "# TYPE a_total counter\na_total_total 1\n# EOF\n", // OpenMetrics counter family named _total
                "# HELP a say \\t\n# TYPE a gauge\na 1\n# EOF\n", // bad HELP escape
            })
    void rejectsBrokenOpenMetricsExpositions(String text) {
        assertThatThrownBy(() -> StrictExpositionParser.parse(text, OM)).isInstanceOf(IllegalArgumentException.class);
    }
}
