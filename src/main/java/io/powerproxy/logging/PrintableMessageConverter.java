package io.powerproxy.logging;

import ch.qos.logback.classic.pattern.ClassicConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;

/**
 * Logback's {@code %msg} with every unprintable character escaped by {@link Printable}: whatever a message quotes
 * (an exception's text, a value a plugin logs), it stays on one line. Used as {@code %printableMsg} in logback.xml.
 */
public final class PrintableMessageConverter extends ClassicConverter {

    @Override
    public String convert(ILoggingEvent event) {
        return Printable.of(event.getFormattedMessage());
    }
}
