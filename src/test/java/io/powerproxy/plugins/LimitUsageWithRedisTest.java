package io.powerproxy.plugins;

import io.powerproxy.budgets.FailoverTokenBudgets;
import io.powerproxy.budgets.RedisOptions;
import io.powerproxy.budgets.RedisTokenBudgets;
import static io.powerproxy.plugins.PluginTestSupport.exchange;
import static io.powerproxy.plugins.PluginTestSupport.usage;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.FakeClock;
import io.powerproxy.testing.RedisServer;
import io.powerproxy.usage.UsageRecord;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/**
 * LimitUsage with a real Redis shared by proxy replicas on their own ports: one budget across replicas,
 * exact sums under concurrency, and what happens while Redis is down.
 */
class LimitUsageWithRedisTest {

    private static final String ANSWER = """
            {"id": "chatcmpl-1", "object": "chat.completion", "created": 1764072015, "model": "gpt-4o",
             "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hello"}}],
             "usage": {"prompt_tokens": 600, "completion_tokens": 400, "total_tokens": 1000}}""";

    /** 12:00:15 on some day, in epoch ms: every test stays in this minute, whatever the real clock does. */
    private final AtomicLong now = new AtomicLong(1_764_072_015_000L);
    private final FakeClock breakerClock = new FakeClock();

    /** Team A may use 10k tokens per minute, Team B 100 million; each request uses 1000. */
    private static String config(int redisPort, String moreRedisSettings) {
        return RedisReplica.config("""
                - name: Team A
                  key: %s
                  max_tokens_per_minute_in_k: 10
                - name: Team B
                  key: %s
                  max_tokens_per_minute_in_k: 100000
                """.formatted(Configs.TEAM_A_KEY, Configs.TEAM_B_KEY), redisPort, moreRedisSettings,
                ANSWER.replace("\n", " "));
    }

    private RedisReplica replica(String yaml) throws Exception {
        return RedisReplica.start(yaml, now::get, RedisOptions.DEFAULTS.withBreaker(Duration.ofSeconds(1), breakerClock));
    }

    private long minute() {
        return now.get() / 60_000;
    }

    private static long redisCount(RedisServer redis, String key) {
        try (Jedis jedis = redis.client()) {
            String value = jedis.get(key);
            return value == null ? 0 : Long.parseLong(value);
        }
    }

    private static void await(String what, Supplier<Boolean> condition) {
        Await.until(what, condition::get);
    }

    /**
     * Waits for the condition; the breaker clock moves on 100 ms per try, as time does for a real replica, so a probe
     * that failed (it may, right after the restart) is followed by another.
     */
    private static void await(String what, Supplier<Boolean> condition, FakeClock clock) {
        Await.until(what, () -> {
            if (condition.get()) {
                return true;
            }
            clock.advance(Duration.ofMillis(100));
            return false;
        });
    }

    @Test
    void aClientsBudgetHoldsAcrossTwoReplicasSharingOneRedis() throws Exception {
        try (RedisServer redis = RedisServer.start();
                RedisReplica first = replica(config(redis.port(), "redis_timeout_ms: 2000"));
                RedisReplica second = replica(config(redis.port(), "redis_timeout_ms: 2000"))) {
            List<RedisReplica> replicas = List.of(first, second);

            int answered = 0;
            HttpResponse<String> response;
            while ((response = replicas.get(answered % 2).chat(Configs.TEAM_A_KEY)).statusCode() == 200 && answered < 30) {
                answered++;
                int booked = answered;
                await(booked + " usages are booked", () -> first.recorder().records().size()
                        + second.recorder().records().size() == booked);
            }

            assertEquals(10, answered, "10k tokens per minute at 1000 per request, across both replicas");
            assertEquals(429, response.statusCode(), response.body());
            assertEquals(429, replicas.get((answered + 1) % 2).chat(Configs.TEAM_A_KEY).statusCode(),
                    "the other replica refuses too");
            assertEquals(10_000, redisCount(redis, RedisTokenBudgets.key("Team A", "gpt-4o", minute())));
            assertEquals(200, first.chat(Configs.TEAM_B_KEY).statusCode(), "Team B has its own budget");
        }
    }

    @Test
    void twoHundredConcurrentRequestsAcrossTwoReplicasAddUpExactlyInRedis() throws Exception {
        try (RedisServer redis = RedisServer.start();
                RedisReplica first = replica(config(redis.port(), "redis_timeout_ms: 2000"));
                RedisReplica second = replica(config(redis.port(), "redis_timeout_ms: 2000"))) {
            List<Future<HttpResponse<String>>> responses = new ArrayList<>();
            try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < 200; i++) {
                    RedisReplica replica = i % 2 == 0 ? first : second;
                    responses.add(threads.submit(() -> replica.chat(Configs.TEAM_B_KEY)));
                }
            }
            for (Future<HttpResponse<String>> response : responses) {
                assertEquals(200, response.get(60, TimeUnit.SECONDS).statusCode());
            }
            first.awaitRecords(100);
            second.awaitRecords(100);

            long recorded = 0;
            for (RedisReplica replica : List.of(first, second)) {
                recorded += replica.recorder().records().stream().mapToLong(UsageRecord::totalTokens).sum();
            }
            assertEquals(200_000, recorded);
            assertEquals(recorded, redisCount(redis, RedisTokenBudgets.key("Team B", "gpt-4o", minute())));
            assertNull(first.limit().readinessProblem());
        }
    }

    @Test
    void whileRedisIsDownRequestsAreServedOnTheLocalBudgetWithOneWarningAndRedisIsUsedAgainWhenItIsBack()
            throws Exception {
        try (CapturedLogs log = CapturedLogs.start();
                RedisServer redis = RedisServer.start();
                RedisReplica replica = replica(config(redis.port(), "redis_timeout_ms: 2000"))) {
            String teamA = RedisTokenBudgets.key("Team A", "gpt-4o", minute());
            String teamB = RedisTokenBudgets.key("Team B", "gpt-4o", minute());
            for (int i = 1; i <= 3; i++) {
                assertEquals(200, replica.chat(Configs.TEAM_A_KEY).statusCode());
                replica.awaitRecords(i);
            }
            assertEquals(3_000, redisCount(redis, teamA));
            assertEquals(204, replica.readiness().statusCode());

            redis.kill();
            int servedWithoutRedis = 0;
            HttpResponse<String> response;
            while ((response = replica.chat(Configs.TEAM_A_KEY)).statusCode() == 200 && servedWithoutRedis < 30) {
                servedWithoutRedis++;
                replica.awaitRecords(3 + servedWithoutRedis);
            }

            assertEquals(7, servedWithoutRedis, "the local budget knew the 3000 tokens used before Redis died");
            assertEquals(429, response.statusCode());
            List<String> warnings = log.messages(FailoverTokenBudgets.class, Level.WARN);
            assertEquals(1, warnings.size(), warnings.toString());
            assertTrue(warnings.get(0).startsWith("Redis at 127.0.0.1:" + redis.port() + " unavailable: connection "),
                    warnings.get(0));
            HttpResponse<String> notReady = replica.readiness();
            assertEquals(503, notReady.statusCode());
            assertTrue(notReady.body().contains("Redis at 127.0.0.1:" + redis.port() + " unavailable since 20")
                    && notReady.body().contains("budgets are per replica"), notReady.body());

            redis.restart();
            breakerClock.advance(Duration.ofSeconds(1));
            assertEquals(200, replica.chat(Configs.TEAM_B_KEY).statusCode(), "served while the probe runs");
            replica.awaitRecords(11);
            await("readiness is 204 again", () -> replica.readiness().statusCode() == 204, breakerClock);
            long before = redisCount(redis, teamB);
            for (int i = 1; i <= 3; i++) {
                assertEquals(200, replica.chat(Configs.TEAM_B_KEY).statusCode());
                replica.awaitRecords(11 + i);
            }

            assertEquals(before + 3_000, redisCount(redis, teamB), "updates reach the restarted Redis");
            assertEquals(429, replica.chat(Configs.TEAM_A_KEY).statusCode(),
                    "the emptied Redis does not give back what this replica knows was used");
            assertEquals(1, log.messages(FailoverTokenBudgets.class, Level.WARN).size());
            assertEquals(1, log.messages(FailoverTokenBudgets.class, Level.INFO).stream().filter(m -> m.contains("answers again")).count());
        }
    }

    @Test
    void withFailModeClosedRequestsThatNeedABudgetAreRefusedWith503WhileRedisIsDown() throws Exception {
        try (RedisServer redis = RedisServer.start();
                RedisReplica replica = replica(config(redis.port(), "redis_timeout_ms: 2000\nredis_fail_mode: closed"))) {
            assertEquals(200, replica.chat(Configs.TEAM_B_KEY).statusCode());

            redis.kill();
            // Redis is taken for unavailable after three failed calls in a row (a request makes two); until then a
            // request whose call failed is served on the replica's own count.
            HttpResponse<String> refused;
            int servedMeanwhile = 0;
            while ((refused = replica.chat(Configs.TEAM_B_KEY)).statusCode() == 200 && servedMeanwhile < 3) {
                servedMeanwhile++;
            }
            HttpResponse<String> refusedWithoutTrying = replica.chat(Configs.TEAM_B_KEY);

            assertTrue(servedMeanwhile <= 2, "served after Redis died: " + servedMeanwhile);
            assertEquals(503, refused.statusCode());
            assertTrue(refused.body().contains("\"code\":\"BudgetStoreUnavailable\""), refused.body());
            assertEquals("1", refused.headers().firstValue("retry-after").orElse(null));
            assertFalse(refused.body().contains("127.0.0.1"), "the client is not told where Redis is");
            assertEquals(503, refusedWithoutTrying.statusCode());
            assertTrue(replica.readiness().body().contains("requests that need a budget are refused with 503"));
            HttpResponse<String> noDeployment = replica.proxy().send(replica.proxy().request("/openai/models?api-version=1")
                    .header("api-key", Configs.TEAM_B_KEY).GET().build());
            assertEquals(200, noDeployment.statusCode(), "a request that names no deployment needs no budget: "
                    + noDeployment.body());

            redis.restart();
            breakerClock.advance(Duration.ofSeconds(1));
            replica.chat(Configs.TEAM_B_KEY);
            await("Redis is used again", () -> replica.chat(Configs.TEAM_B_KEY).statusCode() == 200, breakerClock);
        }
    }

    @Test
    void aWrongPasswordShowsAtStartAndRequestsAreServedOnTheLocalBudget() throws Exception {
        String wrongPassword = "an-old-access-key-ABCDEFGH";
        try (CapturedLogs log = CapturedLogs.start();
                RedisServer redis = RedisServer.startTls("the-current-access-key-0123")) {
            ProxyConfig config = ConfigLoader.parse(config(redis.port(),
                    "redis_timeout_ms: 2000\nredis_password: " + wrongPassword).replace("redis_ssl: false", "redis_ssl: true"));
            PluginContext context = new PluginContext(config.plugins().get(0), config);
            try (LimitUsage limit = (LimitUsage) LimitUsage.factory(now::get, RedisOptions.DEFAULTS
                    .withSslSocketFactory(redis.sslSocketFactory())
                    .withBreaker(Duration.ofSeconds(1), breakerClock)).create(context)) {

                await("readiness reports the problem", () -> limit.readinessProblem() != null);

                String problem = limit.readinessProblem();
                assertTrue(problem.contains("it refused the credentials (WRONGPASS): check redis_password"), problem);
                List<String> warnings = log.messages(FailoverTokenBudgets.class, Level.WARN);
                assertEquals(1, warnings.size(), warnings.toString());
                for (String text : List.of(problem, warnings.get(0))) {
                    assertFalse(text.contains(wrongPassword) || text.contains("the-current-access-key"), text);
                }
                Exchange exchange = exchange(context, 0, "gpt-4o");
                assertDoesNotThrow(() -> limit.onRequestReady(exchange));
                limit.onUsage(exchange, usage(exchange, 10_000));
                assertEquals(429, assertThrows(ProxyException.class,
                        () -> limit.onRequestReady(exchange(context, 0, "gpt-4o"))).status(),
                        "the local budget holds");
            }
        }
    }

    @Test
    void withTlsAndThePasswordTheBudgetIsKeptInRedis() throws Exception {
        try (RedisServer redis = RedisServer.startTls("the-current-access-key-0123")) {
            ProxyConfig config = ConfigLoader.parse(config(redis.port(),
                    "redis_timeout_ms: 2000\nredis_password: the-current-access-key-0123")
                    .replace("      redis_ssl: false\n", ""));
            PluginContext context = new PluginContext(config.plugins().get(0), config);
            try (LimitUsage limit = (LimitUsage) LimitUsage.factory(now::get,
                    RedisOptions.DEFAULTS.withSslSocketFactory(redis.sslSocketFactory())).create(context)) {

                Exchange exchange = exchange(context, 0, "gpt-4o");
                limit.onRequestReady(exchange);
                limit.onUsage(exchange, usage(exchange, 1234));

                assertEquals(1234, redisCount(redis, RedisTokenBudgets.key("Team A", "gpt-4o", minute())));
                assertNull(limit.readinessProblem());
            }
        }
    }
}
