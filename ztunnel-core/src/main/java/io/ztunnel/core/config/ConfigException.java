package io.ztunnel.core.config;

/** A configuration value is invalid; the message names the variable, the value and what was expected. */
public final class ConfigException extends RuntimeException {
    public ConfigException(String message) {
        super(message);
    }
}
