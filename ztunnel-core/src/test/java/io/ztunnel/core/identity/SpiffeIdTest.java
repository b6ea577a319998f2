package io.ztunnel.core.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

class SpiffeIdTest {

    @Provide
    Arbitrary<String> segments() {
        return Arbitraries.strings()
                .withCharRange('!', '~')
                .excludeChars('/')
                .ofMinLength(1)
                .ofMaxLength(30);
    }

    @Property
    void formatThenParseGivesTheSameIdentity(
            @ForAll("segments") String td, @ForAll("segments") String ns, @ForAll("segments") String sa) {
        SpiffeId id = new SpiffeId(td, ns, sa);
        assertThat(SpiffeId.parse(id.toString())).isEqualTo(id);
        assertThat(id.principal()).isEqualTo(td + "/ns/" + ns + "/sa/" + sa);
    }

    @Property
    void arbitraryStringsEitherParseAndRoundTripOrFailWithANamedReason(@ForAll String input) {
        SpiffeId id = SpiffeId.tryParse(input);
        if (id != null) {
            assertThat(id.toString()).isEqualTo(input);
        } else {
            assertThatThrownBy(() -> SpiffeId.parse(input))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("SPIFFE id");
        }
    }

    @Test
    void parsesIstioIdentity() {
        SpiffeId id = SpiffeId.parse("spiffe://cluster.local/ns/default/sa/bookinfo-productpage");
        assertThat(id.trustDomain()).isEqualTo("cluster.local");
        assertThat(id.namespace()).isEqualTo("default");
        assertThat(id.serviceAccount()).isEqualTo("bookinfo-productpage");
    }

    @Test
    void rejectsWrongSchemeNamingIt() {
        assertThatThrownBy(() -> SpiffeId.parse("https://cluster.local/ns/a/sa/b"))
                .hasMessageContaining("must start with spiffe://");
    }

    @Test
    void rejectsMissingSegmentsNamingTheCount() {
        assertThatThrownBy(() -> SpiffeId.parse("spiffe://cluster.local/ns/a"))
                .hasMessageContaining("found 3 path segments instead of 5");
        assertThatThrownBy(() -> SpiffeId.parse("spiffe://cluster.local/ns/a/sa/b/extra"))
                .hasMessageContaining("found 6 path segments");
    }

    @Test
    void rejectsWrongKeywordsNamingThem() {
        assertThatThrownBy(() -> SpiffeId.parse("spiffe://td/namespace/a/sa/b"))
                .hasMessageContaining("second segment must be \"ns\", found \"namespace\"");
        assertThatThrownBy(() -> SpiffeId.parse("spiffe://td/ns/a/serviceaccount/b"))
                .hasMessageContaining("fourth segment must be \"sa\", found \"serviceaccount\"");
    }

    @Test
    void rejectsEmptyPartsNamingThem() {
        assertThatThrownBy(() -> SpiffeId.parse("spiffe:///ns/a/sa/b")).hasMessageContaining("trust domain is empty");
        assertThatThrownBy(() -> SpiffeId.parse("spiffe://td/ns//sa/b")).hasMessageContaining("namespace is empty");
        assertThatThrownBy(() -> SpiffeId.parse("spiffe://td/ns/a/sa/"))
                .hasMessageContaining("service account is empty");
    }
}
