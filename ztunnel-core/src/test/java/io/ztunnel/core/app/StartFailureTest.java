package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.channel.epoll.Epoll;
import io.netty.channel.unix.Errors;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class StartFailureTest {
    @Test
    void nettyBindFailureReadsAsTheErrorText() {
        Epoll.ensureAvailability(); // Netty's native library formats the error text
        Errors.NativeIoException bind = Errors.newIOException("bind(..)", -98); // EADDRINUSE
        var wrapped = new IllegalStateException("cannot listen on /127.0.0.1:15000: " + bind.getMessage(), bind);
        assertThat(StartFailure.describe(wrapped))
                .isEqualTo("cannot listen on /127.0.0.1:15000: Address already in use");
    }

    @Test
    void causesAreJoinedOnceAndWithoutClassNames() {
        var failure = new IllegalStateException("cannot start the CA", new IOException("connection refused"));
        assertThat(StartFailure.describe(failure)).isEqualTo("cannot start the CA: connection refused");
        var repeated = new IllegalStateException("cannot start: disk full", new IOException("disk full"));
        assertThat(StartFailure.describe(repeated)).isEqualTo("cannot start: disk full");
    }

    @Test
    void aFailureWithoutAnyMessageIsNamedPlainly() {
        assertThat(StartFailure.describe(new NullPointerException())).isEqualTo("unexpected NullPointerException");
    }
}
