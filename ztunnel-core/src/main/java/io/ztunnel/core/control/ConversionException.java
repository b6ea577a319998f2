package io.ztunnel.core.control;

/** A control-plane resource that cannot be used; the message names the field and why (it becomes the NACK text). */
public final class ConversionException extends Exception {
    public ConversionException(String message) {
        super(message);
    }
}
