/**
 * Test doubles of the control plane, published in this module's test jar for ztunnel-core's tests: a fake istiod
 * ({@link FakeIstiod}: Delta ADS and CA) and the certificates it serves and signs with.
 */
@NullMarked
package io.ztunnel.xds.testing;

import org.jspecify.annotations.NullMarked;
