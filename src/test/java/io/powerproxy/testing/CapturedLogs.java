package io.powerproxy.testing;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.core.read.ListAppender;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.LoggerFactory;

/**
 * Everything every logger writes (at the levels the test configuration lets through), from any thread, until closed:
 * each event as one text with its level, logger, message and the messages of its exception chain.
 */
public final class CapturedLogs implements AutoCloseable {

    private final Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

    private CapturedLogs() {
    }

    public static CapturedLogs start() {
        CapturedLogs logs = new CapturedLogs();
        logs.appender.start();
        logs.root.addAppender(logs.appender);
        return logs;
    }

    /** Each event so far as {@code LEVEL logger - message | exception messages}. */
    public List<String> lines() {
        List<ILoggingEvent> events;
        // The appender adds while holding its own lock.
        synchronized (appender) {
            events = List.copyOf(appender.list);
        }
        List<String> lines = new ArrayList<>(events.size());
        for (ILoggingEvent event : events) {
            StringBuilder line = new StringBuilder().append(event.getLevel()).append(' ').append(event.getLoggerName())
                    .append(" - ").append(event.getFormattedMessage());
            for (IThrowableProxy cause = event.getThrowableProxy(); cause != null; cause = cause.getCause()) {
                line.append(" | ").append(cause.getClassName()).append(": ").append(cause.getMessage());
            }
            lines.add(line.toString());
        }
        return lines;
    }

    /** The formatted messages one class's logger wrote at a level so far. */
    public List<String> messages(Class<?> logger, Level level) {
        synchronized (appender) {
            return appender.list.stream()
                    .filter(event -> event.getLevel() == level && event.getLoggerName().equals(logger.getName()))
                    .map(ILoggingEvent::getFormattedMessage).toList();
        }
    }

    /** When each event whose message contains a text was logged, in order. */
    public List<java.time.Instant> times(String text) {
        synchronized (appender) {
            return appender.list.stream().filter(event -> event.getFormattedMessage().contains(text))
                    .map(ILoggingEvent::getInstant).toList();
        }
    }

    /** The lines that contain a text. */
    public List<String> containing(String text) {
        return lines().stream().filter(line -> line.contains(text)).toList();
    }

    @Override
    public void close() {
        root.detachAppender(appender);
        appender.stop();
    }
}
