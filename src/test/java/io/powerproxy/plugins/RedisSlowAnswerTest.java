package io.powerproxy.plugins;

import io.powerproxy.budgets.FailoverTokenBudgets;
import io.powerproxy.budgets.RedisOptions;
import io.powerproxy.budgets.RedisTokenBudgets;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.RedisServer;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/**
 * One slow Redis answer is not an outage, with LimitUsage's default Redis settings behind a real proxy: a pause below
 * the timeout only delays requests, a timed-out call is served from the replica's own count, and neither opens the
 * breaker or turns readiness to 503; Redis that is gone still does.
 */
class RedisSlowAnswerTest {

    /** 12:00:15 on some day, in epoch ms: the test stays in this minute, whatever the real clock does. */
    private final AtomicLong now = new AtomicLong(1_764_072_015_000L);

    private static String config(int redisPort, String moreRedisSettings) {
        return RedisReplica.config("""
                - name: Team A
                  key: %s
                  max_tokens_per_minute_in_k: 100000
                """.formatted(Configs.TEAM_A_KEY), redisPort, moreRedisSettings, """
                {"object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 6, "completion_tokens": 4, \
                "total_tokens": 10}}""");
    }

    /** A replica on the config with the production Redis options (breaker thresholds and clock). */
    private RedisReplica replica(String yaml) throws Exception {
        return RedisReplica.start(yaml, now::get, RedisOptions.DEFAULTS);
    }

    private int chat(RedisReplica replica) {
        return replica.chat(Configs.TEAM_A_KEY).statusCode();
    }

    private long redisCount(RedisServer redis) {
        try (Jedis jedis = redis.client()) {
            String value = jedis.get(RedisTokenBudgets.key("Team A", "gpt-4o", now.get() / 60_000));
            return value == null ? 0 : Long.parseLong(value);
        }
    }

    @Test
    void aRedisPauseBelowTheDefaultTimeoutOnlyDelaysRequestsAndTheirUsageStillReachesRedis() throws Exception {
        try (CapturedLogs log = CapturedLogs.start();
                RedisServer redis = RedisServer.start();
                Jedis admin = redis.client();
                RedisReplica replica = replica(config(redis.port(), ""))) {
            assertEquals(200, chat(replica));
            replica.recorder().await(1);

            // Redis answers nobody for 600 ms, less than the default timeout, as on a machine whose cores are busy.
            admin.clientPause(600);
            List<Future<Integer>> during = new ArrayList<>();
            try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < 5; i++) {
                    during.add(clients.submit(() -> chat(replica)));
                }
            }
            for (Future<Integer> status : during) {
                assertEquals(200, status.get());
            }
            replica.recorder().await(6);

            assertEquals(204, replica.readiness().statusCode());
            assertEquals(60, redisCount(redis), "every request's tokens were booked in Redis");
            assertEquals(List.of(), log.messages(FailoverTokenBudgets.class, Level.WARN));
        }
    }

    @Test
    void aCallThatTimesOutIsServedFromTheReplicasCountWithoutAnOutageWhileRedisThatIsGoneIsOne() throws Exception {
        try (CapturedLogs log = CapturedLogs.start();
                RedisServer redis = RedisServer.start();
                Jedis admin = redis.client();
                RedisReplica replica = replica(config(redis.port(), "redis_timeout_ms: 300\nredis_fail_mode: closed"))) {
            assertEquals(200, chat(replica));
            replica.recorder().await(1);

            // Far longer than the timeout: the next request's budget check and update both time out, two failures.
            admin.clientPause(2_000);
            long started = System.nanoTime();
            assertEquals(200, chat(replica), "served from the replica's own count, even in fail mode closed");
            assertTrue(System.nanoTime() - started >= Duration.ofMillis(300).toNanos(), "the check waited for Redis");
            replica.recorder().await(2);

            assertEquals(204, replica.readiness().statusCode());
            assertEquals(List.of(), log.messages(FailoverTokenBudgets.class, Level.WARN));

            redis.kill();
            int requests = 0;
            while (replica.readiness().statusCode() == 204 && requests < 3) {
                chat(replica);
                requests++;
            }
            HttpResponse<String> notReady = replica.readiness();
            assertEquals(503, notReady.statusCode(), "three failed calls in a row: Redis is unavailable");
            assertTrue(notReady.body().contains("Redis at 127.0.0.1:" + redis.port() + " unavailable since"),
                    notReady.body());
            assertEquals(1, log.messages(FailoverTokenBudgets.class, Level.WARN).size(), log.messages(FailoverTokenBudgets.class, Level.WARN).toString());
        }
    }
}
