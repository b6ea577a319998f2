package io.ztunnel.xds.local;

/**
 * The one exception a bad local config (ztunnel's {@code LOCAL_XDS_PATH} / {@code LOCAL_XDS}
 * YAML) produces: malformed YAML, an unknown field, a wrong type, a bad value or a missing
 * required field.
 *
 * <p>The message is meant for an operator and always says where the problem is, for example
 * {@code /etc/ztunnel/local.yaml: line 7, column 5: workloads[0].protocl: unknown field (did you
 * mean "protocol"?)}. The parts are also available separately: {@link #source()}, {@link
 * #line()}, {@link #column()} (1-based, 0 when the position is unknown, e.g. for an unreadable
 * file), {@link #path()} (the field path, empty for problems that are not tied to a field) and
 * {@link #reason()}.
 *
 * <p>Immutable; safe to pass between threads.
 */
public final class LocalConfigException extends Exception {
    private static final long serialVersionUID = 1L;

    private final String source;
    private final int line;
    private final int column;
    private final String path;
    private final String reason;

    LocalConfigException(String source, int line, int column, String path, String reason) {
        super(format(source, line, column, path, reason));
        this.source = source;
        this.line = line;
        this.column = column;
        this.path = path;
        this.reason = reason;
    }

    LocalConfigException(String source, String reason, Throwable cause) {
        super(format(source, 0, 0, "", reason), cause);
        this.source = source;
        this.line = 0;
        this.column = 0;
        this.path = "";
        this.reason = reason;
    }

    private static String format(String source, int line, int column, String path, String reason) {
        StringBuilder sb = new StringBuilder();
        if (!source.isEmpty()) {
            sb.append(source).append(": ");
        }
        if (line > 0) {
            sb.append("line ").append(line).append(", column ").append(column).append(": ");
        }
        if (!path.isEmpty()) {
            sb.append(path).append(": ");
        }
        return sb.append(reason).toString();
    }

    /** Where the config came from: a file path, or {@code LOCAL_XDS} for inline YAML. */
    public String source() {
        return source;
    }

    /** 1-based line of the problem, or 0 when unknown. */
    public int line() {
        return line;
    }

    /** 1-based column of the problem, or 0 when unknown. */
    public int column() {
        return column;
    }

    /** Field path such as {@code workloads[0].waypoint.destination}; empty when not applicable. */
    public String path() {
        return path;
    }

    /** What is wrong, without the position and path. */
    public String reason() {
        return reason;
    }
}
