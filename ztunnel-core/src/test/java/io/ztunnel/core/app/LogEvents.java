package io.ztunnel.core.app;

import ch.qos.logback.classic.spi.ILoggingEvent;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Captured log events as users read them: the structured key-values of each line, plus its level. */
final class LogEvents {
    private LogEvents() {}

    /** The events whose message is {@code message}, each as its key-value fields plus {@code level}. */
    static List<Map<String, String>> withMessage(List<ILoggingEvent> events, String message) {
        return List.copyOf(events).stream()
                .filter(e -> e.getFormattedMessage().equals(message))
                .map(e -> {
                    Map<String, String> fields = new HashMap<>();
                    fields.put("level", e.getLevel().toString());
                    if (e.getKeyValuePairs() != null) {
                        e.getKeyValuePairs().forEach(kv -> fields.put(kv.key, String.valueOf(kv.value)));
                    }
                    return fields;
                })
                .toList();
    }
}
