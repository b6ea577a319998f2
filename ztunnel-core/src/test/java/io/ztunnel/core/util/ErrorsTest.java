package io.ztunnel.core.util;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.ConnectException;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;

class ErrorsTest {

    @Test
    void usesTheMessageOfTheExceptionBehindWrappers() {
        Throwable wrapped = new CompletionException(new ExecutionException(new ConnectException("connection refused")));
        assertThat(Errors.message(wrapped)).isEqualTo("connection refused");
    }

    @Test
    void skipsAWrapperWhoseMessageIsItsCausesClassAndMessage() {
        assertThat(Errors.message(new RuntimeException(new IOException("disk full"))))
                .isEqualTo("disk full");
    }

    @Test
    void aClosedChannelReadsAsAClosedConnection() {
        assertThat(Errors.message(new ClosedChannelException())).isEqualTo("connection closed");
    }

    @Test
    void neverEndsInNullNorStartsWithAClassName() {
        String message = Errors.message(new IllegalStateException());
        assertThat(message).doesNotEndWith("null").doesNotStartWith("java.").doesNotStartWith("IllegalStateException");
        assertThat(message).contains("IllegalStateException");
    }
}
