/**
 * Test support published in this module's test jar for ztunnel-core's tests too: {@link RequiresNetns} (root and
 * {@code ip netns}, skipped or failed under CI by {@link NetnsCondition}), {@link TestNetns} (a namespace per test)
 * and {@link NoFdLeaks} (no file descriptor left open).
 */
@NullMarked
package io.ztunnel.cni.testing;

import org.jspecify.annotations.NullMarked;
