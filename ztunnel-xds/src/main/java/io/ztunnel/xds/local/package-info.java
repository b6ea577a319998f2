/**
 * The local config source: ztunnel's {@code LOCAL_XDS_PATH} / {@code LOCAL_XDS} YAML parsed
 * into the same protos xDS delivers ({@link io.ztunnel.xds.local.LocalConfigParser}, {@link
 * io.ztunnel.xds.local.LocalConfig}), and a file watcher that re-parses on change ({@link
 * io.ztunnel.xds.local.LocalConfigWatcher}).
 */
@NullMarked
package io.ztunnel.xds.local;

import org.jspecify.annotations.NullMarked;
