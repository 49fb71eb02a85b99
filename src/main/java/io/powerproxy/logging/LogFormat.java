package io.powerproxy.logging;

import java.util.Map;

/**
 * The format of the log lines, chosen with {@code POWERPROXY_LOG_FORMAT} (a system property or an environment
 * variable, read in that order as the shipped logback.xml reads it): {@code text}, the default, or {@code json}.
 */
public enum LogFormat {
    /** One line of text per event, values escaped by {@link Printable}. */
    TEXT,
    /** One JSON object per line, by Logback's JsonEncoder, with the request's ids as MDC fields. */
    JSON;

    /** The name of the setting. */
    public static final String SETTING = "POWERPROXY_LOG_FORMAT";

    /**
     * The configured format, from the system property or else the environment.
     *
     * @throws IllegalArgumentException naming the setting and its two values, when it has another value
     */
    public static LogFormat configured(Map<String, String> environment) {
        String value = System.getProperty(SETTING, environment.get(SETTING));
        if (value == null || value.equals("text")) {
            return TEXT;
        }
        if (value.equals("json")) {
            return JSON;
        }
        throw new IllegalArgumentException(SETTING + " must be text or json, not '" + Printable.of(value) + "'");
    }
}
