package io.ztunnel.core.net;

import io.netty.channel.Channel;
import io.netty.channel.epoll.Native;
import io.ztunnel.core.util.Errors;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps epoll sockets registered with epoll after a half-close.
 *
 * <p>Netty 4.2.18 removes a socket from the epoll set when its interest set becomes empty, which happens once the
 * peer's FIN has been read and reads are off; it then fails ({@code epoll_ctl(..) ... No such file or directory}) when
 * the socket later needs EPOLLOUT because its send buffer filled up, which is exactly what happens when a client
 * half-closes and then receives a large answer. Adding EPOLLERR to the interest set (epoll reports errors regardless,
 * so nothing else changes) keeps the set from ever becoming empty. Netty's epoll channel classes are final and the
 * method is protected, so it is called reflectively; call {@link #keepRegistered} on every data-plane socket right
 * after it is created or accepted. If reflection is not possible the call is a logged no-op.
 *
 * <p>Thread-safe; must be called on the channel's event loop once the channel is registered, or before registration.
 */
public final class EpollSockets {
    private static final Logger log = LoggerFactory.getLogger(EpollSockets.class);
    private static final @Nullable Class<?> EPOLL_CHANNEL = epollChannelClass();
    private static final @Nullable MethodHandle SET_FLAG = setFlagHandle();

    private EpollSockets() {}

    private static @Nullable Class<?> epollChannelClass() {
        try {
            return Class.forName("io.netty.channel.epoll.AbstractEpollChannel");
        } catch (ClassNotFoundException | LinkageError e) {
            return null;
        }
    }

    private static @Nullable MethodHandle setFlagHandle() {
        if (EPOLL_CHANNEL == null) {
            return null;
        }
        try {
            return MethodHandles.privateLookupIn(EPOLL_CHANNEL, MethodHandles.lookup())
                    .findVirtual(EPOLL_CHANNEL, "setFlag", MethodType.methodType(void.class, int.class));
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            log.atWarn()
                    .addKeyValue("error", Errors.message(e))
                    .log("cannot apply the epoll half-close workaround; large answers to half-closed clients may fail");
            return null;
        }
    }

    /** Adds EPOLLERR to an epoll channel's interest set; does nothing for other transports. */
    public static void keepRegistered(Channel channel) {
        if (SET_FLAG == null || EPOLL_CHANNEL == null || !EPOLL_CHANNEL.isInstance(channel)) {
            return;
        }
        try {
            SET_FLAG.invoke(channel, Native.EPOLLERR);
        } catch (Throwable e) {
            log.atDebug()
                    .addKeyValue("channel", channel)
                    .addKeyValue("error", Errors.message(e))
                    .log("could not keep socket registered with epoll");
        }
    }
}
