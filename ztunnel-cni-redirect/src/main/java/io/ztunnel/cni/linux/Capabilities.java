package io.ztunnel.cni.linux;

import io.ztunnel.cni.ErrorText;
import java.io.IOException;
import java.time.Duration;

/**
 * Start-up check that this process can do what in-pod mode needs: enter network namespaces ({@code
 * setns}, CAP_SYS_ADMIN) and mark its sockets ({@code SO_MARK}, CAP_NET_ADMIN). Failing here, with
 * a message that says which capability is missing, beats failing on the first pod.
 *
 * <p>Threading: {@link #check} may be called from any thread; the setns probe runs on a short-lived
 * thread of its own (via {@link PodNetns}) so the caller's namespace never changes. All fds it
 * opens are closed before it returns.
 */
public final class Capabilities {
    private Capabilities() {}

    /** Thrown when a capability is missing; the message says which and what to do. */
    public static final class MissingCapabilityException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        MissingCapabilityException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Verifies that {@code setns(CLONE_NEWNET)} into our own namespace works and that {@code SO_MARK
     * = mark} can be set on a TCP socket.
     *
     * @throws MissingCapabilityException naming CAP_SYS_ADMIN or CAP_NET_ADMIN
     */
    public static void check(int mark) {
        checkSetns();
        checkMark(mark);
    }

    private static void checkSetns() {
        try (PodNetns own = PodNetns.openCurrent()) {
            own.call(() -> null, Duration.ofSeconds(5));
        } catch (IOException | RuntimeException e) {
            throw new MissingCapabilityException(
                    "cannot enter a network namespace: "
                            + ErrorText.of(e)
                            + ". In-pod mode creates its listeners inside each pod's network namespace, which"
                            + " needs CAP_SYS_ADMIN: add it to the container's securityContext.capabilities"
                            + " (the ztunnel DaemonSet grants it), or run as root.",
                    e);
        }
    }

    private static void checkMark(int mark) {
        int fd = -1;
        try {
            fd = Libc.socket(Libc.AF_INET, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
            SocketOptions.setMark(fd, mark);
        } catch (ErrnoException e) {
            throw new MissingCapabilityException(
                    "cannot set SO_MARK "
                            + mark
                            + " on a TCP socket: "
                            + ErrorText.of(e)
                            + ". The in-pod redirection rules let through only packets carrying this mark, and"
                            + " setting it needs CAP_NET_ADMIN (or CAP_NET_RAW): add it to the container's"
                            + " securityContext.capabilities, or run as root.",
                    e);
        } finally {
            Libc.closeQuietly(fd);
        }
    }
}
