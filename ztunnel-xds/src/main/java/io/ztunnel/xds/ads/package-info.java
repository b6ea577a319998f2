/**
 * The Delta ADS client ({@link DeltaAdsClient}) and the small interfaces the daemon implements to consume it:
 * {@link XdsResourceHandler} for the resources, {@link XdsClientListener} for metrics.
 */
@NullMarked
package io.ztunnel.xds.ads;

import org.jspecify.annotations.NullMarked;
