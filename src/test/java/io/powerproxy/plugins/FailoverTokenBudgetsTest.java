package io.powerproxy.plugins;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.plugins.RedisSettings.FailMode;
import io.powerproxy.testing.FakeClock;
import io.powerproxy.testing.RedisServer;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/** Redis with the replica's own budget as the fallback: a slow Redis costs one request the timeout, not every one. */
class FailoverTokenBudgetsTest {

    private static final long MINUTE = 29_401_200;

    private final FakeClock breakerClock = new FakeClock();

    private FailoverTokenBudgets budgets(RedisServer redis, int timeoutMillis) {
        RedisSettings settings = new RedisSettings("127.0.0.1", redis.port(), null, null, false, timeoutMillis, 2_000,
                FailMode.OPEN);
        return FailoverTokenBudgets.create(RedisTokenBudgets.create(settings, RedisOptions.DEFAULTS), settings.address(),
                FailMode.OPEN, CircuitBreaker.create(Duration.ofSeconds(1), breakerClock), () -> 1_764_072_015_000L);
    }

    @Test
    void aSlowRedisCostsOneRequestTheTimeoutAndTheNextOnesNothing() {
        try (RedisServer redis = RedisServer.start();
                FailoverTokenBudgets budgets = budgets(redis, 200);
                Jedis admin = redis.client()) {
            budgets.add("Team 1", "gpt-4o", MINUTE, 100);
            assertEquals(100, budgets.used("Team 1", "gpt-4o", MINUTE));
            assertNull(budgets.problem());

            admin.clientPause(1_000);
            long started = System.nanoTime();
            long first = budgets.used("Team 1", "gpt-4o", MINUTE);
            long firstMillis = (System.nanoTime() - started) / 1_000_000;
            started = System.nanoTime();
            for (int i = 0; i < 100; i++) {
                budgets.add("Team 1", "gpt-4o", MINUTE, 1);
                budgets.used("Team 1", "gpt-4o", MINUTE);
            }
            long nextMillis = (System.nanoTime() - started) / 1_000_000;

            assertEquals(100, first, "the local count answers");
            assertTrue(firstMillis < 800, "the first request waited " + firstMillis + " ms, not the 1 s pause");
            assertTrue(nextMillis < 500, "100 more checks and updates took " + nextMillis + " ms");
            assertEquals(200, budgets.used("Team 1", "gpt-4o", MINUTE));
            assertTrue(budgets.problem().startsWith("Redis at 127.0.0.1:" + redis.port() + " unavailable since"
                    + " 2025-11-25T12:00:15Z: no answer within 200 ms (redis_timeout_ms); budgets are per replica"),
                    budgets.problem());
        }
    }

    @Test
    void theLocalCountIsTheFloorWhenRedisLostItsData() {
        try (RedisServer redis = RedisServer.start();
                FailoverTokenBudgets budgets = budgets(redis, 2_000);
                Jedis admin = redis.client()) {
            budgets.add("Team 1", "gpt-4o", MINUTE, 700);

            admin.flushAll();

            assertEquals(700, budgets.used("Team 1", "gpt-4o", MINUTE));
            budgets.add("Team 1", "gpt-4o", MINUTE, 5);
            assertEquals(705, budgets.used("Team 1", "gpt-4o", MINUTE));
            assertEquals("5", admin.get(RedisTokenBudgets.key("Team 1", "gpt-4o", MINUTE)));
            assertNull(budgets.problem());
        }
    }
}
