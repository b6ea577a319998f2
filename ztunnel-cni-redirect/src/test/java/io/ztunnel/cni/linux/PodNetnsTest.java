package io.ztunnel.cni.linux;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ztunnel.cni.testing.NoFdLeaks;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CancellationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** PodNetns behaviour that needs no privileges: opening, validation, identity, ownership. */
@ExtendWith(NoFdLeaks.class)
class PodNetnsTest {
    @Test
    void twoOpensOfTheSameNamespaceHaveTheSameIdentity() throws Exception {
        try (PodNetns a = PodNetns.openCurrent();
                PodNetns b = PodNetns.open(Path.of("/proc/self/ns/net"))) {
            assertThat(a.id()).isEqualTo(b.id());
            assertThat(a.fd()).isNotEqualTo(b.fd());
            // The id is what the kernel shows in the namespace link: net:[<inode>].
            String link = Files.readSymbolicLink(Path.of("/proc/self/ns/net")).toString();
            assertThat(link).isEqualTo("net:[" + a.id().inode() + "]");
        }
    }

    @Test
    void refusesANamespaceOfAnotherType() {
        assertThatThrownBy(() -> PodNetns.open(Path.of("/proc/self/ns/uts")))
                .hasMessageContaining("/proc/self/ns/uts")
                .hasMessageContaining("not a network namespace");
    }

    @Test
    void refusesAFileThatIsNoNamespaceAndClosesTheAdoptedFd() throws Exception {
        int before = NoFdLeaks.count();
        int fd = Libc.open("/dev/null", Libc.O_RDONLY | Libc.O_CLOEXEC);
        assertThatThrownBy(() -> PodNetns.adopt(fd, "a test fd"))
                .hasMessageContaining("a test fd is not a namespace file");
        assertThat(NoFdLeaks.count()).isEqualTo(before);
    }

    @Test
    void openOfAMissingPathNamesThePathAndErrno() {
        assertThatThrownBy(() -> PodNetns.open(Path.of("/var/run/netns/no-such-netns-here")))
                .isInstanceOf(ErrnoException.class)
                .hasMessageContaining("open(/var/run/netns/no-such-netns-here) failed: ENOENT");
    }

    @Test
    void closeIsIdempotentAndTheFdCannotBeBorrowedAfterwards() throws Exception {
        int before = NoFdLeaks.count();
        PodNetns netns = PodNetns.openCurrent();
        assertThat(NoFdLeaks.count()).isEqualTo(before + 1);
        netns.close();
        netns.close();
        assertThat(NoFdLeaks.count()).isEqualTo(before);
        assertThat(netns.isOpen()).isFalse();
        assertThatThrownBy(netns::fd).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
        assertThatThrownBy(() -> netns.withFd(fd -> fd)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void tasksSubmittedAfterCloseAreCancelled() throws Exception {
        PodNetns netns = PodNetns.openCurrent();
        netns.close();
        assertThat(netns.submit(() -> 1)).isCancelled();
        assertThatThrownBy(() -> netns.call(() -> 1))
                .hasMessageContaining("was closed")
                .hasCauseInstanceOf(CancellationException.class);
    }
}
