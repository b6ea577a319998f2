/** Operator endpoints: the admin API (config dump, log levels, policy checks) and the readiness server. */
@NullMarked
package io.ztunnel.core.admin;

import org.jspecify.annotations.NullMarked;
