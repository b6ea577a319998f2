package io.ztunnel.cni.linux;

import java.io.IOException;
import java.util.Map;

/**
 * A failed Linux system call: which call, on what (fd, path, option), and the errno by name and
 * description, e.g. {@code setns(fd 12, CLONE_NEWNET) failed: EPERM (Operation not permitted)}.
 *
 * <p>Immutable, so safe to pass between threads.
 */
public final class ErrnoException extends IOException {
    private static final long serialVersionUID = 1L;

    private static final Map<Integer, String> NAMES = Map.ofEntries(
            Map.entry(1, "EPERM"),
            Map.entry(2, "ENOENT"),
            Map.entry(4, "EINTR"),
            Map.entry(5, "EIO"),
            Map.entry(9, "EBADF"),
            Map.entry(11, "EAGAIN"),
            Map.entry(12, "ENOMEM"),
            Map.entry(13, "EACCES"),
            Map.entry(14, "EFAULT"),
            Map.entry(17, "EEXIST"),
            Map.entry(20, "ENOTDIR"),
            Map.entry(22, "EINVAL"),
            Map.entry(24, "EMFILE"),
            Map.entry(25, "ENOTTY"),
            Map.entry(32, "EPIPE"),
            Map.entry(36, "ENAMETOOLONG"),
            Map.entry(38, "ENOSYS"),
            Map.entry(88, "ENOTSOCK"),
            Map.entry(90, "EMSGSIZE"),
            Map.entry(91, "EPROTOTYPE"),
            Map.entry(92, "ENOPROTOOPT"),
            Map.entry(93, "EPROTONOSUPPORT"),
            Map.entry(95, "EOPNOTSUPP"),
            Map.entry(97, "EAFNOSUPPORT"),
            Map.entry(98, "EADDRINUSE"),
            Map.entry(99, "EADDRNOTAVAIL"),
            Map.entry(104, "ECONNRESET"),
            Map.entry(107, "ENOTCONN"),
            Map.entry(110, "ETIMEDOUT"),
            Map.entry(111, "ECONNREFUSED"));

    private final String function;
    private final int errno;

    ErrnoException(String function, String context, int errno) {
        super(function + "(" + context + ") failed: " + describe(errno));
        this.function = function;
        this.errno = errno;
    }

    /** The failed call, e.g. {@code "setns"}. */
    public String function() {
        return function;
    }

    /** The raw errno value. */
    public int errno() {
        return errno;
    }

    /** The errno's symbolic name, e.g. {@code "EPERM"}, or {@code "errno N"} if not in our table. */
    public String errnoName() {
        return name(errno);
    }

    static String name(int errno) {
        return NAMES.getOrDefault(errno, "errno " + errno);
    }

    /** {@code "EPERM (Operation not permitted)"}. */
    static String describe(int errno) {
        return name(errno) + " (" + Libc.strerror(errno) + ")";
    }
}
