/** The local mesh demo: network namespaces, node agents and daemons run as processes. Nothing else uses it. */
@NullMarked
package io.ztunnel.core.demo;

import org.jspecify.annotations.NullMarked;
