package io.ztunnel.core.state;

import static io.ztunnel.core.state.Fixtures.ip;
import static io.ztunnel.core.state.Fixtures.pod;
import static io.ztunnel.core.state.Fixtures.state;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** {@link OnDemand} waits and {@link StateStore#fetch}: which addresses are asked for, and when a wait ends. */
class OnDemandTest {
    private final StateStore store = new StateStore();
    private final List<String> sent = new CopyOnWriteArrayList<>();

    private static NetworkAddress at(String network, String ip) {
        return new NetworkAddress(network, ip(ip));
    }

    @Test
    void offAFetchReadsTheCurrentStateAtOnceAndAsksForNothing() {
        CompletableFuture<ProxyState> fetched = store.fetch(at("", "10.0.0.1"));

        assertThat(fetched).isCompletedWithValue(ProxyState.EMPTY);
        assertThat(store.onDemand().enabled()).isFalse();
    }

    @Test
    void aKnownAddressIsNotAskedFor() {
        store.onDemand().enable(sent::add);
        ProxyState known = state(List.of(pod("ns", "a", "10.0.0.1").build()), List.of());
        store.replace(known);

        assertThat(store.fetch(at("", "10.0.0.1"))).isCompletedWithValue(known);
        assertThat(sent).isEmpty();
    }

    @Test
    void aMissingAddressIsAskedForAsNetworkSlashIpAndReadAgainWhenThatNameIsAnswered() {
        store.onDemand().enable(sent::add);
        CompletableFuture<ProxyState> fetched = store.fetch(at("nw1", "2001:db8:0:0:0:0:0:7"));

        assertThat(sent).containsExactly("nw1/2001:db8::7");
        assertThat(fetched).isNotDone();
        store.onDemand().received(List.of("nw1/2001:db8::8", "Kubernetes//Pod/ns/x")); // other names: still waiting
        assertThat(fetched).isNotDone();

        ProxyState answered = state(List.of(pod("ns", "a", "10.0.0.1").build()), List.of());
        store.replace(answered);
        store.onDemand().received(List.of("nw1/2001:db8::7"));
        assertThat(fetched).isCompletedWithValue(answered);
        assertThat(store.onDemand().waiting()).isZero();
    }

    @Test
    void aRepeatDemandWakesTheEarlierWaiterAndAsksAgain() {
        store.onDemand().enable(sent::add);
        CompletableFuture<ProxyState> first = store.fetch(at("", "10.0.0.2"));
        CompletableFuture<ProxyState> second = store.fetch(at("", "10.0.0.2"));

        assertThat(first).isDone();
        assertThat(second).isNotDone();
        assertThat(sent).containsExactly("/10.0.0.2", "/10.0.0.2");
        store.onDemand().received(List.of("/10.0.0.2"));
        assertThat(second).isDone();
    }

    @Test
    void closingEndsEveryWaitAndLaterFetchesDoNotAsk() {
        store.onDemand().enable(sent::add);
        CompletableFuture<ProxyState> waiting = store.fetch(at("", "10.0.0.3"));

        store.onDemand().close();

        assertThat(waiting).isCompletedWithValue(ProxyState.EMPTY);
        assertThat(store.fetch(at("", "10.0.0.4"))).isCompletedWithValue(ProxyState.EMPTY);
        assertThat(sent).containsExactly("/10.0.0.3");
        assertThat(store.onDemand().enabled()).isFalse();
    }

    @Test
    void aRequesterThatFailsEndsTheWaitAsNotFound() {
        store.onDemand().enable(name -> {
            throw new IllegalStateException("stream closed");
        });

        assertThat(store.fetch(at("", "10.0.0.5"))).isCompletedWithValue(ProxyState.EMPTY);
        assertThat(store.onDemand().waiting()).isZero();
    }
}
