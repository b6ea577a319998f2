package io.ztunnel.core.app;

import ch.qos.logback.classic.AsyncAppender;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.core.Appender;
import io.ztunnel.core.util.LogSpan;
import io.ztunnel.core.util.LogValues;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.slf4j.event.KeyValuePair;

/**
 * The daemon's log lines on their way to the output, as Istio ztunnel writes them: a queue of {@value #LINES} lines
 * that one thread ({@code AsyncAppender-Worker-CONSOLE}) encodes and writes, so a connection's access-log line costs
 * its event loop the event, not the formatting and the {@code write} to stdout. A full queue makes the logging thread
 * wait until there is room (back-pressure, as upstream's writer): no line is ever dropped, whatever its level.
 *
 * <p>Field values that could change after the call (a channel, whose text shows its state) are turned into their
 * text when the event is queued, so a line shows the value at the moment it was logged. Text, numbers, booleans,
 * {@link LogValues.Display} values and {@link LogSpan}s are immutable and kept as they are (their kind decides the
 * quoting).
 *
 * <p>Threading: events are queued from any thread; the worker alone writes to the wrapped appender. {@link #stop()}
 * writes out what is queued (for at most {@value #FLUSH_MILLIS} ms) before it returns.
 */
final class LogQueue extends AsyncAppender {
    /** Upstream's non-blocking writer holds this many lines. */
    static final int LINES = 10_000;

    static final int FLUSH_MILLIS = 2_000;

    LogQueue(LoggerContext context, Appender<ILoggingEvent> out) {
        setContext(context);
        setName(out.getName());
        setQueueSize(LINES);
        setDiscardingThreshold(0); // never drop, at any level
        setNeverBlock(false); // a full queue waits
        setIncludeCallerData(false);
        setMaxFlushTime(FLUSH_MILLIS);
        addAppender(out);
    }

    @Override
    protected void preprocess(ILoggingEvent event) {
        super.preprocess(event);
        List<KeyValuePair> fields = event.getKeyValuePairs();
        if (fields == null) {
            return;
        }
        List<KeyValuePair> fixed = null;
        for (int i = 0; i < fields.size(); i++) {
            KeyValuePair field = fields.get(i);
            if (!isImmutable(field.value)) {
                if (fixed == null) {
                    fixed = new ArrayList<>(fields);
                }
                fixed.set(i, new KeyValuePair(field.key, LogValues.display(field.value)));
            }
        }
        if (fixed != null && event instanceof LoggingEvent mutable) {
            mutable.setKeyValuePairs(fixed); // a copy: the list handed in may be shared or unmodifiable
        }
    }

    private static boolean isImmutable(@Nullable Object value) {
        return value == null
                || value instanceof String
                || value instanceof Number
                || value instanceof Boolean
                || value instanceof Character
                || value instanceof LogValues.Display
                || value instanceof LogSpan;
    }
}
