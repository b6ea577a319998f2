/** The DNS proxy: answers from the state snapshot, forwards the rest; one server per workload. */
@NullMarked
package io.ztunnel.core.dns;

import org.jspecify.annotations.NullMarked;
