package io.powerproxy.budgets;

import java.time.Duration;
import java.util.function.LongSupplier;
import javax.net.ssl.SSLSocketFactory;

/**
 * What the config does not say about LimitUsage's Redis: whom TLS trusts, how long budget keys live, how long the
 * circuit breaker skips Redis after a failure, and its clock. Production uses {@link #DEFAULTS}; tests change them.
 *
 * @param sslSocketFactory the TLS sockets to use, or null for the JDK's default trust store (Azure Cache for Redis
 *     has a certificate from a public CA)
 * @param keyTtl how long a minute's key lives after its last update; longer than a minute, so that usage booked
 *     late (a long stream) still lands in the minute it started
 * @param breakerOpenFor how long Redis is skipped after it is found unavailable before one probe tries it again
 * @param breakerFailuresToOpen how many failed calls in a row (no success between them) make Redis unavailable
 * @param monotonicMillis the breaker's clock
 */
public record RedisOptions(SSLSocketFactory sslSocketFactory, Duration keyTtl, Duration breakerOpenFor,
        int breakerFailuresToOpen, LongSupplier monotonicMillis) {

    /**
     * Three failures in a row: a single call that times out on a busy machine (measured: about 1 in 30,000 budget
     * calls took over 500 ms with both cores saturated) is not an outage; a Redis that is down fails three calls
     * within milliseconds.
     */
    static final int BREAKER_FAILURES_TO_OPEN = 3;

    public static final RedisOptions DEFAULTS = new RedisOptions(null, Duration.ofSeconds(120), Duration.ofSeconds(1),
            BREAKER_FAILURES_TO_OPEN, () -> System.nanoTime() / 1_000_000);

    public RedisOptions withSslSocketFactory(SSLSocketFactory factory) {
        return new RedisOptions(factory, keyTtl, breakerOpenFor, breakerFailuresToOpen, monotonicMillis);
    }

    RedisOptions withKeyTtl(Duration ttl) {
        return new RedisOptions(sslSocketFactory, ttl, breakerOpenFor, breakerFailuresToOpen, monotonicMillis);
    }

    public RedisOptions withBreaker(Duration openFor, LongSupplier clock) {
        return new RedisOptions(sslSocketFactory, keyTtl, openFor, breakerFailuresToOpen, clock);
    }
}
