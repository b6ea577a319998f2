/** ztunnel's configuration from its environment variables and mesh config, with the HBONE settings. */
@NullMarked
package io.ztunnel.core.config;

import org.jspecify.annotations.NullMarked;
