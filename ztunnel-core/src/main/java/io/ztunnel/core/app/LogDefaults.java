package io.ztunnel.core.app;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ConfiguratorRank;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.spi.ContextAwareBase;

/**
 * The daemon's logging set-up, in code rather than a {@code logback.xml}: plain text on stdout with the structured
 * key=value fields, INFO by default ({@link LogConfig} then applies {@code RUST_LOG} and {@code LOG_FORMAT}). In code
 * because logback's XML configurator and the JDK's XML parser cost a daemon ~400 classes (about 3 MiB of metaspace)
 * and their start time for five lines of configuration.
 *
 * <p>Found by logback through {@code META-INF/services}. It steps aside, letting logback's own configuration run, when
 * {@code logback.configurationFile} is set or a {@code logback-test.xml} is on the class path (tests), unless the
 * system property {@code ztunnel.log.builtin=true} asks for this set-up anyway (tests of the daemon's own output).
 * Called once by logback at its initialisation, on whichever thread logs first.
 */
@ConfiguratorRank(ConfiguratorRank.CUSTOM_HIGH_PRIORITY)
public final class LogDefaults extends ContextAwareBase implements Configurator {
    static final String PATTERN = "%d{yyyy-MM-dd'T'HH:mm:ss.SSSXXX,UTC} %-5level %logger{24} %msg %kvp{NONE}%n%ex";

    @Override
    public ExecutionStatus configure(LoggerContext context) {
        if (!Boolean.getBoolean("ztunnel.log.builtin")
                && (System.getProperty("logback.configurationFile") != null
                        || LogDefaults.class.getClassLoader().getResource("logback-test.xml") != null)) {
            return ExecutionStatus.INVOKE_NEXT_IF_ANY;
        }
        PatternLayoutEncoder encoder = new PatternLayoutEncoder();
        encoder.setContext(context);
        encoder.setPattern(PATTERN);
        encoder.start();
        ConsoleAppender<ILoggingEvent> stdout = new ConsoleAppender<>();
        stdout.setContext(context);
        stdout.setName("STDOUT");
        stdout.setEncoder(encoder);
        stdout.start();
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        root.setLevel(Level.INFO);
        root.addAppender(stdout);
        context.getLogger("io.netty").setLevel(Level.INFO);
        context.getLogger("io.grpc").setLevel(Level.INFO);
        return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
    }
}
