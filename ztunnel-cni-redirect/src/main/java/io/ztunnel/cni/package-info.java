/**
 * The node-side Linux glue of ztunnel: pod network namespaces and the sockets made in them ({@code linux}), the
 * in-pod redirection rules ({@code rules}) and the commands that apply them ({@code exec}), both ends of the ZDS
 * protocol ({@code zds}), and the node agent that enrolls pods ({@code agent}). This package holds what they share.
 */
@NullMarked
package io.ztunnel.cni;

import org.jspecify.annotations.NullMarked;
