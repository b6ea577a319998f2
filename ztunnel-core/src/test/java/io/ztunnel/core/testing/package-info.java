/**
 * Test-only tools shared by core's tests: apps to proxy to, a raw HTTP/2 client, a PROXY v2 parser and an mTLS bridge.
 */
@NullMarked
package io.ztunnel.core.testing;

import org.jspecify.annotations.NullMarked;
