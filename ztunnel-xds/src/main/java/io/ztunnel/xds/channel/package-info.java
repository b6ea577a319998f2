/**
 * How ztunnel reaches istiod: the address ({@code XDS_ADDRESS} / {@code CA_ADDRESS}), the trust anchors for istiod's
 * certificate ({@code XDS_ROOT_CA} / {@code CA_ROOT_CA}), the bearer token ({@code AUTH_TOKEN}) and the gRPC channel
 * built from them ({@link ControlPlaneEndpoint}), shared by the ADS and CA clients.
 */
@NullMarked
package io.ztunnel.xds.channel;

import org.jspecify.annotations.NullMarked;
