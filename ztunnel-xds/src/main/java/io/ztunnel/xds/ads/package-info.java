/**
 * The Delta ADS client ({@link io.ztunnel.xds.ads.DeltaAdsClient}) and the small interfaces the
 * daemon implements to consume it: {@link io.ztunnel.xds.ads.XdsResourceHandler} for the
 * resources, {@link io.ztunnel.xds.ads.XdsClientListener} for metrics.
 */
@NullMarked
package io.ztunnel.xds.ads;

import org.jspecify.annotations.NullMarked;
