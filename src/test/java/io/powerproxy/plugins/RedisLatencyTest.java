package io.powerproxy.plugins;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.plugins.RedisSettings.FailMode;
import io.powerproxy.testing.RedisServer;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** What a shared budget costs a request: one check and one update, measured against Redis on loopback. */
class RedisLatencyTest {

    private static final int CALLS = 2_000;

    /** Microseconds per check plus update, after as many calls again to warm up. */
    private static double microsPerCheckAndAdd(TokenBudgets budgets) {
        for (int i = 0; i < CALLS; i++) {
            budgets.used("Team 1", "warm-up", 1);
            budgets.add("Team 1", "warm-up", 1, 1);
        }
        long started = System.nanoTime();
        for (int i = 0; i < CALLS; i++) {
            budgets.used("Team 1", "gpt-4o", 1);
            budgets.add("Team 1", "gpt-4o", 1, 1);
        }
        return (System.nanoTime() - started) / 1_000.0 / CALLS;
    }

    private static TokenBudgets failover(RedisSettings settings, RedisOptions options) {
        return FailoverTokenBudgets.create(RedisTokenBudgets.create(settings, options), settings.address(),
                settings.failMode(), CircuitBreaker.create(options.breakerOpenFor(), options.monotonicMillis()),
                System::currentTimeMillis);
    }

    @Test
    void aCheckAndAnUpdateThroughRedisOnLoopbackCostWellUnderAMillisecond() {
        double local = microsPerCheckAndAdd(new LocalTokenBudgets());
        double plain;
        double tls;
        try (RedisServer redis = RedisServer.start();
                TokenBudgets budgets = failover(new RedisSettings("127.0.0.1", redis.port(), null, null, false, 2_000,
                        2_000, FailMode.OPEN), RedisOptions.DEFAULTS)) {
            plain = microsPerCheckAndAdd(budgets);
            assertTrue(budgets.problem() == null, budgets.problem());
        }
        try (RedisServer redis = RedisServer.startTls("azure-access-key-0123456789");
                TokenBudgets budgets = failover(new RedisSettings("127.0.0.1", redis.port(), "azure-access-key-0123456789",
                        null, true, 2_000, 2_000, FailMode.OPEN),
                        RedisOptions.DEFAULTS.withSslSocketFactory(redis.sslSocketFactory()))) {
            tls = microsPerCheckAndAdd(budgets);
            assertTrue(budgets.problem() == null, budgets.problem());
        }

        LoggerFactory.getLogger(RedisLatencyTest.class).info(
                "check + update, µs per request: local {}, Redis {}, Redis with TLS {}",
                String.format("%.1f", local), String.format("%.1f", plain), String.format("%.1f", tls));
        // Loose bounds: they catch a lost pool or a round trip too many, not a busy machine.
        assertTrue(plain < 5_000 && tls < 5_000, "plain " + plain + " µs, TLS " + tls + " µs");
    }
}
