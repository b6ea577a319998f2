package io.ztunnel.xds;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.UnknownHostException;
import java.nio.channels.ClosedChannelException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

class ErrorTextTest {

    @Test
    void usesTheExceptionsOwnMessage() {
        assertThat(ErrorText.of(new IOException("connection reset"))).isEqualTo("connection reset");
    }

    @Test
    void looksThroughWrappersWhoseMessageIsOnlyTheCause() {
        IOException root = new IOException("broken pipe");
        assertThat(ErrorText.of(new ExecutionException(root))).isEqualTo("broken pipe");
        assertThat(ErrorText.of(new CompletionException(new UncheckedIOException(root))))
                .isEqualTo("broken pipe");
        assertThat(ErrorText.of(new RuntimeException(root))).isEqualTo("broken pipe");
    }

    @Test
    void keepsAWrappersOwnMessage() {
        assertThat(ErrorText.of(new IllegalStateException("cannot start", new IOException("x"))))
                .isEqualTo("cannot start");
    }

    @Test
    void spellsOutTheTypeWhenNoExceptionInTheChainHasAMessage() {
        assertThat(ErrorText.of(new ClosedChannelException())).isEqualTo("closed channel");
        assertThat(ErrorText.of(new ExecutionException(new ClosedChannelException())))
                .isEqualTo("closed channel");
        assertThat(ErrorText.of(new SSLHandshakeException(" "))).isEqualTo("ssl handshake");
        assertThat(ErrorText.of(new RuntimeException())).isEqualTo("runtime");
        assertThat(ErrorText.of(new Exception())).isEqualTo("error");
    }

    @Test
    void putsTheTypeBeforeAMessageThatOnlyNamesTheFileOrHost() {
        assertThat(ErrorText.of(new NoSuchFileException("/etc/x"))).isEqualTo("no such file: /etc/x");
        assertThat(ErrorText.of(new AccessDeniedException("/etc/x"))).isEqualTo("access denied: /etc/x");
        assertThat(ErrorText.of(new AccessDeniedException("/etc/x", null, "read-only")))
                .isEqualTo("/etc/x: read-only");
        assertThat(ErrorText.of(new UnknownHostException("istiod"))).isEqualTo("unknown host: istiod");
    }

    @Test
    void neverEndsInNullNorStartsWithAClassName() {
        for (Throwable t : new Throwable[] {
            new IOException((String) null), new IllegalStateException(new NullPointerException()), new Error()
        }) {
            assertThat(ErrorText.of(t)).isNotBlank().doesNotEndWith("null").doesNotStartWith("java.");
        }
    }

    @Test
    void stopsOnACauseChainThatLoops() {
        IOException a = new IOException();
        IOException b = new IOException(a);
        a.initCause(b);
        assertThat(ErrorText.of(a)).isEqualTo("io");
    }
}
