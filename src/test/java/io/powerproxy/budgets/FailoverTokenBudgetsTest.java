package io.powerproxy.budgets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.budgets.RedisSettings.FailMode;
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
    void aSlowRedisIsAskedOnceAndThenLeftAloneWhileTheLocalCountAnswers() {
        try (RedisServer redis = RedisServer.start();
                FailoverTokenBudgets budgets = budgets(redis, 200);
                Jedis admin = redis.client()) {
            budgets.add("Team 1", "gpt-4o", MINUTE, 100);
            assertEquals(100, budgets.used("Team 1", "gpt-4o", MINUTE));
            assertNull(budgets.problem());
            // Another replica's usage: from now on Redis's count (150) and this replica's own (100) differ.
            String key = RedisTokenBudgets.key("Team 1", "gpt-4o", MINUTE);
            admin.incrBy(key, 50);
            assertEquals(150, budgets.used("Team 1", "gpt-4o", MINUTE));

            admin.clientPause(1_000);
            long first = budgets.used("Team 1", "gpt-4o", MINUTE);
            for (int i = 0; i < 100; i++) {
                budgets.add("Team 1", "gpt-4o", MINUTE, 1);
                budgets.used("Team 1", "gpt-4o", MINUTE);
            }

            assertEquals(100, first, "Redis gave no answer within 200 ms: the local count answered");
            assertEquals(200, budgets.used("Team 1", "gpt-4o", MINUTE), "the local count took the 100 updates");
            assertTrue(budgets.problem().startsWith("Redis at 127.0.0.1:" + redis.port() + " unavailable since"
                    + " 2025-11-25T12:00:15Z: no answer within 200 ms (redis_timeout_ms); budgets are per replica"),
                    budgets.problem());
            // This answer waits for the pause to end: none of the 100 updates was sent to Redis meanwhile.
            assertEquals("150", admin.get(key));
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
