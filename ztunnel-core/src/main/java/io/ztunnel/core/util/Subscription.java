package io.ztunnel.core.util;

/**
 * A registration that its owner ends by closing it: a state listener, a drain action, one unit of tracked work.
 * Closing is idempotent and thread-safe; it never throws.
 */
@FunctionalInterface
public interface Subscription extends AutoCloseable {

    /** A subscription with nothing to end. */
    Subscription NONE = () -> {};

    @Override
    void close();
}
