package io.ztunnel.core.app;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.Configurator.ExecutionStatus;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import java.nio.charset.StandardCharsets;
import java.util.ServiceLoader;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.slf4j.event.KeyValuePair;

class LogDefaultsTest {
    private final LoggerContext context = new LoggerContext();

    @AfterEach
    void tearDown() {
        System.clearProperty("ztunnel.log.builtin");
        context.stop();
    }

    @Test
    void logbackFindsItAsAConfiguratorService() {
        assertThat(ServiceLoader.load(Configurator.class).stream()
                        .map(p -> p.type().getName()))
                .contains(LogDefaults.class.getName());
    }

    @Test
    void stepsAsideForTheTestConfigurationOnTheClassPath() {
        assertThat(new LogDefaults().configure(context)).isEqualTo(ExecutionStatus.INVOKE_NEXT_IF_ANY);
        assertThat(context.getLogger(Logger.ROOT_LOGGER_NAME)
                        .iteratorForAppenders()
                        .hasNext())
                .isFalse();
    }

    @Test
    void configuresUpstreamsPlainFormatOnStdoutAndTheDefaultFilterWhenAskedFor() {
        System.setProperty("ztunnel.log.builtin", "true");
        assertThat(new LogDefaults().configure(context)).isEqualTo(ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY);
        assertThat(context.getTurboFilterList())
                .singleElement()
                .isInstanceOfSatisfying(
                        LogFilter.class,
                        f -> assertThat(f.directives()).hasToString("hickory_server::server=off,info"));
        assertThat(context.getLogger("access").isInfoEnabled()).isTrue();
        assertThat(context.getLogger("access").isDebugEnabled()).isFalse();
        assertThat(context.getLogger("io.netty.channel.DefaultChannelPipeline").isDebugEnabled())
                .isFalse();
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        ConsoleAppender<?> stdout = (ConsoleAppender<?>) root.getAppender("STDOUT");
        assertThat(stdout.isStarted()).isTrue();
        LogEncoder encoder = (LogEncoder) stdout.getEncoder();
        assertThat(encoder.isJson()).isFalse();
        LoggingEvent event = new LoggingEvent(
                Logger.class.getName(), context.getLogger("access"), Level.INFO, "connection complete", null, null);
        event.addKeyValuePair(new KeyValuePair("direction", "inbound"));
        event.setTimeStamp(0);
        assertThat(new String(encoder.encode(event), StandardCharsets.UTF_8))
                .isEqualTo("1970-01-01T00:00:00.000000Z\tinfo\taccess\tconnection complete\tdirection=\"inbound\"\n");
    }
}
