package io.powerproxy.budgets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.budgets.RedisSettings.FailMode;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.RedisServer;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/** The Redis store of token budgets, against a real redis-server: one key per client, deployment and minute. */
class RedisTokenBudgetsTest {

    private static final long MINUTE = 29_401_200;

    static RedisSettings plain(RedisServer redis) {
        return new RedisSettings("127.0.0.1", redis.port(), null, null, false, 2_000, 2_000, FailMode.OPEN);
    }

    @Test
    void whatIsAddedIsReadBackPerClientDeploymentAndMinute() {
        try (RedisServer redis = RedisServer.start();
                RedisTokenBudgets budgets = RedisTokenBudgets.create(plain(redis), RedisOptions.DEFAULTS)) {

            budgets.add("Team 1", "gpt-4o", MINUTE, 700);
            budgets.add("Team 1", "gpt-4o", MINUTE, 300);
            budgets.add("Team 1", "gpt-4o-mini", MINUTE, 5);
            budgets.add("Team 2", "gpt-4o", MINUTE, 7);
            budgets.add("Team 1", "gpt-4o", MINUTE + 1, 11);

            assertEquals(1000, budgets.used("Team 1", "gpt-4o", MINUTE));
            assertEquals(5, budgets.used("Team 1", "gpt-4o-mini", MINUTE));
            assertEquals(7, budgets.used("Team 2", "gpt-4o", MINUTE));
            assertEquals(11, budgets.used("Team 1", "gpt-4o", MINUTE + 1));
            assertEquals(0, budgets.used("Team 3", "gpt-4o", MINUTE));
            try (Jedis jedis = redis.client()) {
                assertEquals("1000", jedis.get("powerproxy:tpm:Team 1:gpt-4o:" + MINUTE));
            }
        }
    }

    @Test
    void everyKeyExpiresOnItsOwnWithinTwoMinutes() {
        try (RedisServer redis = RedisServer.start();
                RedisTokenBudgets budgets = RedisTokenBudgets.create(plain(redis), RedisOptions.DEFAULTS);
                Jedis jedis = redis.client()) {

            budgets.add("Team 1", "gpt-4o", MINUTE, 1);

            long ttl = jedis.ttl(RedisTokenBudgets.key("Team 1", "gpt-4o", MINUTE));
            assertTrue(ttl > 60 && ttl <= 120, "TTL " + ttl);
        }
    }

    @Test
    void noKeyOfAnEarlierMinuteRemainsAfterItsLifetime() throws Exception {
        try (RedisServer redis = RedisServer.start();
                RedisTokenBudgets budgets = RedisTokenBudgets.create(plain(redis),
                        RedisOptions.DEFAULTS.withKeyTtl(Duration.ofMillis(500)));
                Jedis jedis = redis.client()) {
            budgets.add("Team 1", "gpt-4o", MINUTE, 1);
            budgets.add("Team 2", "gpt-4o", MINUTE, 1);
            assertEquals(2, jedis.keys("powerproxy:*").size());

            Await.until("the keys expired", () -> jedis.keys("powerproxy:*").isEmpty());
        }
    }

    @Test
    void namesWithColonsCannotShareAKey() {
        try (RedisServer redis = RedisServer.start();
                RedisTokenBudgets budgets = RedisTokenBudgets.create(plain(redis), RedisOptions.DEFAULTS)) {

            budgets.add("a:b", "c", MINUTE, 1);
            budgets.add("a", "b:c", MINUTE, 10);
            budgets.add("a%3Ab", "c", MINUTE, 100);

            assertEquals(1, budgets.used("a:b", "c", MINUTE));
            assertEquals(10, budgets.used("a", "b:c", MINUTE));
            assertEquals(100, budgets.used("a%3Ab", "c", MINUTE));
            assertEquals("powerproxy:tpm:a%3Ab:c:" + MINUTE, RedisTokenBudgets.key("a:b", "c", MINUTE));
            assertEquals("powerproxy:tpm:a%253Ab:c:" + MINUTE, RedisTokenBudgets.key("a%3Ab", "c", MINUTE));
        }
    }

    @Test
    void anUpdateStillWorksAfterRedisForgotTheScript() {
        try (RedisServer redis = RedisServer.start();
                RedisTokenBudgets budgets = RedisTokenBudgets.create(plain(redis), RedisOptions.DEFAULTS);
                Jedis jedis = redis.client()) {
            budgets.add("Team 1", "gpt-4o", MINUTE, 1);

            jedis.scriptFlush();
            budgets.add("Team 1", "gpt-4o", MINUTE, 2);

            assertEquals(3, budgets.used("Team 1", "gpt-4o", MINUTE));
            assertTrue(jedis.ttl(RedisTokenBudgets.key("Team 1", "gpt-4o", MINUTE)) > 0);
        }
    }

    @Test
    void theCheckAfterARestartSucceedsAtOnceThoughThePoolStillHoldsAConnectionToTheOldServer() {
        try (RedisServer redis = RedisServer.start();
                RedisTokenBudgets budgets = RedisTokenBudgets.create(plain(redis), RedisOptions.DEFAULTS)) {
            budgets.add("Team 1", "gpt-4o", MINUTE, 1);
            redis.restart();

            budgets.check();

            assertEquals(0, budgets.used("Team 1", "gpt-4o", MINUTE), "the restarted server is empty");
        }
    }

    @Test
    void tlsWithAPasswordWorksAsWithAzureCacheForRedis() {
        try (RedisServer redis = RedisServer.startTls("azure-access-key-0123456789");
                RedisTokenBudgets budgets = RedisTokenBudgets.create(new RedisSettings("127.0.0.1", redis.port(),
                        "azure-access-key-0123456789", null, true, 2_000, 2_000, FailMode.OPEN),
                        RedisOptions.DEFAULTS.withSslSocketFactory(redis.sslSocketFactory()))) {

            budgets.add("Team 1", "gpt-4o", MINUTE, 42);

            assertEquals(42, budgets.used("Team 1", "gpt-4o", MINUTE));
        }
    }

    @Test
    void aServerWhoseCertificateIsNotTrustedIsUnavailableWithTheReason() {
        try (RedisServer redis = RedisServer.startTls("azure-access-key-0123456789");
                RedisTokenBudgets budgets = RedisTokenBudgets.create(new RedisSettings("127.0.0.1", redis.port(),
                        "azure-access-key-0123456789", null, true, 2_000, 2_000, FailMode.OPEN), RedisOptions.DEFAULTS)) {

            TokenBudgets.StoreUnavailableException failure = assertThrows(TokenBudgets.StoreUnavailableException.class,
                    () -> budgets.used("Team 1", "gpt-4o", MINUTE));

            assertTrue(failure.getMessage().startsWith("TLS failed"), failure.getMessage());
        }
    }

    @Test
    void aWrongPasswordIsUnavailableWithAReasonThatNamesTheSettingButNotThePassword() {
        try (RedisServer redis = RedisServer.startTls("azure-access-key-0123456789");
                RedisTokenBudgets budgets = RedisTokenBudgets.create(new RedisSettings("127.0.0.1", redis.port(),
                        "an-old-access-key-ABCDEFGH", null, true, 2_000, 2_000, FailMode.OPEN),
                        RedisOptions.DEFAULTS.withSslSocketFactory(redis.sslSocketFactory()))) {

            TokenBudgets.StoreUnavailableException failure = assertThrows(TokenBudgets.StoreUnavailableException.class,
                    budgets::check);

            assertEquals("it refused the credentials (WRONGPASS): check redis_password", failure.getMessage());
        }
    }

    @Test
    void noServerIsUnavailableWithTheReason() throws Exception {
        RedisServer redis = RedisServer.start();
        redis.close();
        try (RedisTokenBudgets budgets = RedisTokenBudgets.create(plain(redis), RedisOptions.DEFAULTS)) {

            TokenBudgets.StoreUnavailableException failure = assertThrows(TokenBudgets.StoreUnavailableException.class,
                    () -> budgets.add("Team 1", "gpt-4o", MINUTE, 1));

            assertTrue(failure.getMessage().startsWith("connection refused"), failure.getMessage());
        }
    }
}
