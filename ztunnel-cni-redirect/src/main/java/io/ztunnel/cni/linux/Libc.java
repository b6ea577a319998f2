package io.ztunnel.cni.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import org.jspecify.annotations.Nullable;

/**
 * The C library functions this module calls, bound once through the Foreign Function &amp; Memory
 * API, with {@code errno} captured at the call (the JVM may clobber it afterwards).
 *
 * <p>Every wrapper returns the raw result when it is not {@code -1}, and throws {@link
 * ErrnoException} naming the function and the errno otherwise. Callers pass a context string (which
 * fd, which path) so the message says what failed. {@code EINTR} is retried here for the calls that
 * may block, so callers never see it.
 *
 * <p>Threading: stateless and thread-safe; each call allocates its errno slot from a confined arena
 * on the calling thread. Ownership: these are raw calls; whoever got an fd from {@link #open},
 * {@link #socket} or {@link #accept4} owns it and must {@link #close} it.
 *
 * <p>Struct layouts (msghdr, cmsghdr, sockaddr_*, stat) are those of the LP64 Linux ABI shared by
 * x86_64 and aarch64; the offsets used are spelled out where they are read.
 */
@SuppressWarnings("restricted") // binding native functions is this class's whole purpose
final class Libc {
    // Linux constants (asm-generic values, identical on x86_64 and aarch64).
    static final int O_RDONLY = 0;
    static final int O_CLOEXEC = 0x80000;
    static final int AF_UNIX = 1;
    static final int AF_INET = 2;
    static final int AF_INET6 = 10;
    static final int SOCK_STREAM = 1;
    static final int SOCK_SEQPACKET = 5;
    static final int SOCK_CLOEXEC = 0x80000;
    static final int SOL_SOCKET = 1;
    static final int SOL_IP = 0;
    static final int SOL_IPV6 = 41;
    static final int SCM_RIGHTS = 1;
    static final int SO_MARK = 36;
    static final int SHUT_RDWR = 2;
    static final int MSG_CTRUNC = 0x8;
    static final int MSG_DONTWAIT = 0x40;
    static final int MSG_TRUNC = 0x20;
    static final int MSG_NOSIGNAL = 0x4000;
    static final int MSG_CMSG_CLOEXEC = 0x40000000;
    static final short POLLIN = 0x1;
    static final int CLONE_NEWNET = 0x40000000;

    /** {@code _IO(0xb7, 0x3)} from linux/nsfs.h. */
    static final long NS_GET_NSTYPE = 0xb703L;

    static final long NSFS_MAGIC = 0x6e736673L;
    static final long PROC_SUPER_MAGIC = 0x9fa0L;

    static final int ENOENT = 2;
    static final int EINTR = 4;
    static final int EAGAIN = 11;
    static final int EINVAL = 22;
    static final int ENOPROTOOPT = 92;
    static final int EOPNOTSUPP = 95;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");
    private static final MemoryLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG;
    private static final ValueLayout PTR = ValueLayout.ADDRESS;

    // Each libc function is linked on first use (a holder class per function): linking spins a stub class per
    // signature, 10-30 ms each in a cold JVM, and a process uses only some of them (the daemon never binds, listens
    // on or accepts from a unix socket; the node agent's ZDS server does).
    // open(2) and ioctl(2) are variadic; declaring the variadic part keeps the x86_64 calling
    // convention (%al = number of vector registers) correct.
    private static final class OpenCall {
        static final MethodHandle H =
                bind("open", FunctionDescriptor.of(INT, PTR, INT, INT), Linker.Option.firstVariadicArg(2));
    }

    private static final class CloseCall {
        static final MethodHandle H = bind("close", FunctionDescriptor.of(INT, INT));
    }

    private static final class FstatCall {
        static final MethodHandle H = bind("fstat", FunctionDescriptor.of(INT, INT, PTR));
    }

    private static final class StatCall {
        static final MethodHandle H = bind("stat", FunctionDescriptor.of(INT, PTR, PTR));
    }

    private static final class FstatfsCall {
        static final MethodHandle H = bind("fstatfs", FunctionDescriptor.of(INT, INT, PTR));
    }

    private static final class IoctlCall {
        static final MethodHandle H =
                bind("ioctl", FunctionDescriptor.of(INT, INT, LONG, LONG), Linker.Option.firstVariadicArg(2));
    }

    private static final class SetnsCall {
        static final MethodHandle H = bind("setns", FunctionDescriptor.of(INT, INT, INT));
    }

    private static final class SocketCall {
        static final MethodHandle H = bind("socket", FunctionDescriptor.of(INT, INT, INT, INT));
    }

    private static final class SocketpairCall {
        static final MethodHandle H = bind("socketpair", FunctionDescriptor.of(INT, INT, INT, INT, PTR));
    }

    private static final class ConnectCall {
        static final MethodHandle H = bind("connect", FunctionDescriptor.of(INT, INT, PTR, INT));
    }

    private static final class BindCall {
        static final MethodHandle H = bind("bind", FunctionDescriptor.of(INT, INT, PTR, INT));
    }

    private static final class ListenCall {
        static final MethodHandle H = bind("listen", FunctionDescriptor.of(INT, INT, INT));
    }

    private static final class Accept4Call {
        static final MethodHandle H = bind("accept4", FunctionDescriptor.of(INT, INT, PTR, PTR, INT));
    }

    private static final class ShutdownCall {
        static final MethodHandle H = bind("shutdown", FunctionDescriptor.of(INT, INT, INT));
    }

    private static final class SendmsgCall {
        static final MethodHandle H = bind("sendmsg", FunctionDescriptor.of(LONG, INT, PTR, INT));
    }

    private static final class RecvmsgCall {
        static final MethodHandle H = bind("recvmsg", FunctionDescriptor.of(LONG, INT, PTR, INT));
    }

    private static final class PollCall {
        static final MethodHandle H = bind("poll", FunctionDescriptor.of(INT, PTR, LONG, INT));
    }

    private static final class GetsockoptCall {
        static final MethodHandle H = bind("getsockopt", FunctionDescriptor.of(INT, INT, INT, INT, PTR, PTR));
    }

    private static final class SetsockoptCall {
        static final MethodHandle H = bind("setsockopt", FunctionDescriptor.of(INT, INT, INT, INT, PTR, INT));
    }

    private static final class UnlinkCall {
        static final MethodHandle H = bind("unlink", FunctionDescriptor.of(INT, PTR));
    }

    private static final class StrerrorCall {
        static final MethodHandle H =
                LINKER.downcallHandle(LIBC.find("strerror").orElseThrow(), FunctionDescriptor.of(PTR, INT));
    }

    private Libc() {}

    private static MethodHandle bind(String name, FunctionDescriptor fd, Linker.Option... extra) {
        MemorySegment symbol =
                LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no symbol " + name));
        Linker.Option[] options = new Linker.Option[extra.length + 1];
        options[0] = CAPTURE_ERRNO;
        System.arraycopy(extra, 0, options, 1, extra.length);
        return LINKER.downcallHandle(symbol, fd, options);
    }

    /** Result of one native call: the return value, and errno when it failed. */
    private record Result(long value, int errno) {
        boolean failed() {
            return value == -1;
        }
    }

    @FunctionalInterface
    private interface Call {
        long invoke(MemorySegment errnoSlot) throws Throwable;
    }

    private static Result call(Call call) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment slot = arena.allocate(CAPTURE_LAYOUT);
            long value = call.invoke(slot);
            int errno = value == -1 ? (int) ERRNO.get(slot, 0L) : 0;
            return new Result(value, errno);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError("native call failed unexpectedly", t);
        }
    }

    /** Calls until the result is not EINTR; throws on any other failure. */
    private static long check(String function, String context, Call c) throws ErrnoException {
        while (true) {
            Result r = call(c);
            if (!r.failed()) {
                return r.value;
            }
            if (r.errno != EINTR) {
                throw new ErrnoException(function, context, r.errno);
            }
        }
    }

    static int open(String path, int flags) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cpath = arena.allocateFrom(path);
            return (int) check("open", path, slot -> (int) OpenCall.H.invokeExact(slot, cpath, flags, 0));
        }
    }

    /** Closes an fd. EINTR is not retried: on Linux the fd is released even then. */
    static void close(int fd) throws ErrnoException {
        Result r = call(slot -> (int) CloseCall.H.invokeExact(slot, fd));
        if (r.failed() && r.errno != EINTR) {
            throw new ErrnoException("close", "fd " + fd, r.errno);
        }
    }

    /** Closes an fd and ignores errors (for cleanup paths that already have a failure). */
    static void closeQuietly(int fd) {
        if (fd >= 0) {
            call(slot -> (int) CloseCall.H.invokeExact(slot, fd));
        }
    }

    /** {@code fstat}: returns {dev, ino}. {@code st_dev} is at offset 0, {@code st_ino} at 8. */
    static long[] fstatDevIno(int fd) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment st = arena.allocate(256, 8);
            check("fstat", "fd " + fd, slot -> (int) FstatCall.H.invokeExact(slot, fd, st));
            return new long[] {st.get(LONG, 0), st.get(LONG, 8)};
        }
    }

    /** {@code stat} of a path: {dev, ino}, or null if it does not exist. */
    static long @Nullable [] statDevIno(String path) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cpath = arena.allocateFrom(path);
            MemorySegment st = arena.allocate(256, 8);
            Result r = call(slot -> (int) StatCall.H.invokeExact(slot, cpath, st));
            if (r.failed()) {
                if (r.errno == ENOENT) {
                    return null;
                }
                throw new ErrnoException("stat", path, r.errno);
            }
            return new long[] {st.get(LONG, 0), st.get(LONG, 8)};
        }
    }

    /** {@code fstatfs}: the filesystem magic ({@code f_type}, first field, a long). */
    static long fstatfsType(int fd) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment sfs = arena.allocate(256, 8);
            check("fstatfs", "fd " + fd, slot -> (int) FstatfsCall.H.invokeExact(slot, fd, sfs));
            return sfs.get(LONG, 0);
        }
    }

    /** {@code ioctl(fd, request)} without argument; returns the raw result or -errno. */
    static int ioctlNoArg(int fd, long request) {
        Result r = call(slot -> (int) IoctlCall.H.invokeExact(slot, fd, request, 0L));
        return r.failed() ? -r.errno : (int) r.value;
    }

    static void setns(int fd, int nstype, String context) throws ErrnoException {
        check("setns", context, slot -> (int) SetnsCall.H.invokeExact(slot, fd, nstype));
    }

    static int socket(int domain, int type, int protocol) throws ErrnoException {
        return (int) check("socket", "domain " + domain + " type " + type, slot ->
                (int) SocketCall.H.invokeExact(slot, domain, type, protocol));
    }

    static int[] socketpair(int domain, int type) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(INT, 2);
            check("socketpair", "domain " + domain, slot ->
                    (int) SocketpairCall.H.invokeExact(slot, domain, type, 0, fds));
            return new int[] {fds.getAtIndex(INT, 0), fds.getAtIndex(INT, 1)};
        }
    }

    /** connect(2); EINTR on a blocking unix connect is not retried (the connect may have begun). */
    static void connect(int fd, MemorySegment addr, String context) throws ErrnoException {
        Result r = call(slot -> (int) ConnectCall.H.invokeExact(slot, fd, addr, (int) addr.byteSize()));
        if (r.failed()) {
            throw new ErrnoException("connect", context, r.errno);
        }
    }

    static void bind(int fd, MemorySegment addr, String context) throws ErrnoException {
        check("bind", context, slot -> (int) BindCall.H.invokeExact(slot, fd, addr, (int) addr.byteSize()));
    }

    static void listen(int fd, int backlog, String context) throws ErrnoException {
        check("listen", context, slot -> (int) ListenCall.H.invokeExact(slot, fd, backlog));
    }

    static int accept4(int fd, int flags, String context) throws ErrnoException {
        return (int) check("accept4", context, slot ->
                (int) Accept4Call.H.invokeExact(slot, fd, MemorySegment.NULL, MemorySegment.NULL, flags));
    }

    /** shutdown(2); errors are ignored (used to wake blocked readers before close). */
    static void shutdownQuietly(int fd, int how) {
        call(slot -> (int) ShutdownCall.H.invokeExact(slot, fd, how));
    }

    static long sendmsg(int fd, MemorySegment msghdr, int flags, String context) throws ErrnoException {
        return check("sendmsg", context, slot -> (long) SendmsgCall.H.invokeExact(slot, fd, msghdr, flags));
    }

    static long recvmsg(int fd, MemorySegment msghdr, int flags, String context) throws ErrnoException {
        return check("recvmsg", context, slot -> (long) RecvmsgCall.H.invokeExact(slot, fd, msghdr, flags));
    }

    /**
     * Waits for {@code events} on one fd. Returns the {@code revents}, or 0 on timeout. An EINTR also
     * returns 0 (early); callers loop on their own deadline, so it acts as a spurious wakeup.
     */
    static short poll(int fd, short events, int timeoutMillis, String context) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pfd = arena.allocate(8, 4);
            pfd.set(INT, 0, fd);
            pfd.set(ValueLayout.JAVA_SHORT, 4, events);
            pfd.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
            Result r = call(slot -> (int) PollCall.H.invokeExact(slot, pfd, 1L, timeoutMillis));
            if (r.failed()) {
                if (r.errno == EINTR) {
                    return 0;
                }
                throw new ErrnoException("poll", context, r.errno);
            }
            return r.value == 0 ? 0 : pfd.get(ValueLayout.JAVA_SHORT, 6);
        }
    }

    /**
     * getsockopt into {@code out}; returns the length the kernel wrote, or -errno on failure (so
     * callers can treat "no such entry" errnos as an answer rather than an error).
     */
    static int getsockoptRaw(int fd, int level, int optname, MemorySegment out) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment len = arena.allocate(INT);
            len.set(INT, 0, (int) out.byteSize());
            Result r = call(slot -> (int) GetsockoptCall.H.invokeExact(slot, fd, level, optname, out, len));
            return r.failed() ? -r.errno : len.get(INT, 0);
        }
    }

    static int getsockoptInt(int fd, int level, int optname, String name) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(INT);
            int n = getsockoptRaw(fd, level, optname, out);
            if (n < 0) {
                throw new ErrnoException("getsockopt", name + " on fd " + fd, -n);
            }
            return out.get(INT, 0);
        }
    }

    static void setsockoptInt(int fd, int level, int optname, int value, String name) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment in = arena.allocateFrom(INT, value);
            check("setsockopt", name + "=" + value + " on fd " + fd, slot ->
                    (int) SetsockoptCall.H.invokeExact(slot, fd, level, optname, in, 4));
        }
    }

    /** unlink(2); returns false if the path did not exist. */
    static boolean unlink(String path) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cpath = arena.allocateFrom(path);
            Result r = call(slot -> (int) UnlinkCall.H.invokeExact(slot, cpath));
            if (r.failed()) {
                if (r.errno == ENOENT) {
                    return false;
                }
                throw new ErrnoException("unlink", path, r.errno);
            }
            return true;
        }
    }

    /** The C library's description of an errno (glibc returns static strings for known ones). */
    static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) StrerrorCall.H.invokeExact(errno);
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }
}
