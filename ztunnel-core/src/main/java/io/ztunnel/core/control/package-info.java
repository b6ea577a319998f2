/** State sources: xDS from istiod and the local config file, converted into the state model. */
@NullMarked
package io.ztunnel.core.control;

import org.jspecify.annotations.NullMarked;
