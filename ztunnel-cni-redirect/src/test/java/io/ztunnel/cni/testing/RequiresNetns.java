package io.ztunnel.cni.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Marks tests that need root and {@code ip netns} (plus the listed tools). They are skipped where
 * those are missing, except under {@code CI=true}, where they fail instead: CI must never pass with
 * the namespace tests silently skipped. Also tags the tests {@code netns}.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@Tag("netns")
@ExtendWith(NetnsCondition.class)
public @interface RequiresNetns {
    /** Extra executables that must be on PATH, e.g. {@code "iptables"}. */
    String[] tools() default {};
}
