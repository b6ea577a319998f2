/** The immutable mesh model (workloads, services, authorizations), the state snapshot and its store. */
@NullMarked
package io.ztunnel.core.state;

import org.jspecify.annotations.NullMarked;
