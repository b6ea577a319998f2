/** Checks on the shape of core's code: its package layers and the style rules the compiler does not enforce. */
@NullMarked
package io.ztunnel.core.architecture;

import org.jspecify.annotations.NullMarked;
