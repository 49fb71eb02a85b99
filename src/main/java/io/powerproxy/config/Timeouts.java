package io.powerproxy.config;

import java.time.Duration;

/**
 * {@code connections.timeouts} of an endpoint.
 *
 * @param connect time to open a connection (default 15 s)
 * @param read time allowed until the response headers, and between two reads of the body (default 120 s)
 * @param write time allowed to send the request (default 120 s)
 * @param pool time a request may wait for a free connection slot (default 120 s)
 */
public record Timeouts(Duration connect, Duration read, Duration write, Duration pool) {

    public static final Timeouts DEFAULTS = new Timeouts(
            Duration.ofSeconds(15), Duration.ofSeconds(120), Duration.ofSeconds(120), Duration.ofSeconds(120));
}
