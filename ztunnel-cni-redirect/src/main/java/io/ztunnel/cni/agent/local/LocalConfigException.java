package io.ztunnel.cni.agent.local;

import java.io.IOException;

/**
 * The local config file is not valid. The message names the file, the line (when known) and the
 * field path, e.g. {@code /etc/ztunnel/pods.yaml: line 12: pods[1].ips[0]: "10.0.0" is not an IP
 * address}. Immutable.
 */
public final class LocalConfigException extends IOException {
    private static final long serialVersionUID = 1L;

    private final int line;
    private final String field;

    LocalConfigException(String source, int line, String field, String problem) {
        super(source
                + ": "
                + (line > 0 ? "line " + line + ": " : "")
                + (field.isEmpty() ? "" : field + ": ")
                + problem);
        this.line = line;
        this.field = field;
    }

    /** 1-based line of the problem, 0 if unknown. */
    public int line() {
        return line;
    }

    /** The field path, e.g. {@code pods[1].ips[0]}; empty for the document as a whole. */
    public String field() {
        return field;
    }
}
