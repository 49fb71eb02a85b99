package io.powerproxy.config;

import java.time.Duration;

/**
 * {@code connections.limits} of an endpoint.
 *
 * @param maxConnections at most this many requests in flight to the endpoint (default 100)
 * @param maxKeepaliveConnections idle connections kept (default 20); the pool keeps at least {@code maxConnections},
 *     so this matters only when larger (README "8. Server and client settings")
 * @param keepaliveExpiry how long an idle connection is kept (default 5 s; the largest of all endpoints applies)
 */
public record ConnectionLimits(int maxConnections, int maxKeepaliveConnections, Duration keepaliveExpiry) {

    public static final ConnectionLimits DEFAULTS = new ConnectionLimits(100, 20, Duration.ofSeconds(5));
}
