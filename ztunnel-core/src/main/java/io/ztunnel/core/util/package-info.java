/** Foundations every other package may use: drains, subscriptions, backoff, error messages, scheduling. */
@NullMarked
package io.ztunnel.core.util;

import org.jspecify.annotations.NullMarked;
