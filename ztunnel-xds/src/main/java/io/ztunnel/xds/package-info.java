/**
 * Istio control-plane client for ztunnel: the wire types ({@code io.ztunnel.xds.proto.*}, generated from
 * {@code src/main/proto}), the resource naming rules ({@link XdsResources}), the local config source ({@link
 * io.ztunnel.xds.local}), the Delta ADS client ({@link io.ztunnel.xds.ads}) and the istiod CA client ({@link
 * io.ztunnel.xds.ca}).
 *
 * <p>This module depends on no other project module; the daemon translates these protos into its own model.
 */
@NullMarked
package io.ztunnel.xds;

import org.jspecify.annotations.NullMarked;
