/**
 * The local config source: ztunnel's {@code LOCAL_XDS_PATH} / {@code LOCAL_XDS} YAML parsed into the same protos xDS
 * delivers ({@link LocalConfigParser}, {@link LocalConfig}), and a file watcher that re-parses on change ({@link
 * LocalConfigWatcher}).
 */
@NullMarked
package io.ztunnel.xds.local;

import org.jspecify.annotations.NullMarked;
