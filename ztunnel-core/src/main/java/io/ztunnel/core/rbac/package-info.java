/** L4 authorization: which policies apply to a connection and whether they allow it, with the reason. */
@NullMarked
package io.ztunnel.core.rbac;

import org.jspecify.annotations.NullMarked;
