package io.powerproxy.plugins;

import static io.powerproxy.plugins.LimitUsageAdmissionTest.answer;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.budgets.RedisOptions;
import io.powerproxy.budgets.RedisTokenBudgets;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.plugins.LimitUsageAdmissionTest.Outcome;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.HeldUpstream;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RedisServer;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/**
 * Token admission with two proxy replicas sharing one real Redis, each in front of the same two held upstreams: with
 * {@code admission: reserve} 200 requests at once across both replicas hold no more than the one budget; with
 * {@code admission: after} they overrun it.
 */
class LimitUsageAdmissionWithRedisTest {

    /** 12:00:15.250 on some day, in epoch ms: every test stays in this minute, whatever the real clock does. */
    private final AtomicLong now = new AtomicLong(1_764_072_015_250L);

    private static String config(int redisPort, String admission, HeldUpstream sweden, HeldUpstream france) {
        return """
                clients:
                  - name: Team A
                    key: %s
                    max_tokens_per_minute_in_k: 2
                plugins:
                  - name: LimitUsage
                    admission: %s
                    redis: {redis_host: 127.0.0.1, redis_port: %d, redis_ssl: false, redis_timeout_ms: 5000}
                aoai:
                  endpoints:
                    - {name: Sweden, url: "%s", key: k-0123456789, priority: 0, connections: {limits: {max_connections: 300}}}
                    - {name: France, url: "%s", key: k-0123456789, priority: 0, connections: {limits: {max_connections: 300}}}
                """.formatted(Configs.TEAM_A_KEY, admission, redisPort, sweden.baseUrl(), france.baseUrl());
    }

    private ProxyHarness replica(String yaml) throws Exception {
        ProxyConfig config = ConfigLoader.parse(yaml);
        Plugin limit = LimitUsage.factory(now::get, RedisOptions.DEFAULTS)
                .create(new PluginContext(config.plugins().get(0), config));
        return ProxyHarness.start(config, List.of(limit), () -> System.nanoTime() / 1_000_000);
    }

    private Outcome twoHundredAtOnceAcrossTwoReplicas(String admission, RedisServer redis) throws Exception {
        try (HeldUpstream sweden = HeldUpstream.start(answer(8, 92));
                HeldUpstream france = HeldUpstream.start(answer(8, 92));
                ProxyHarness first = replica(config(redis.port(), admission, sweden, france));
                ProxyHarness second = replica(config(redis.port(), admission, sweden, france))) {
            return LimitUsageAdmissionTest.twoHundredAtOnce(List.of(first, second), List.of(sweden, france));
        }
    }

    private long redisCount(RedisServer redis) {
        try (Jedis jedis = redis.client()) {
            String value = jedis.get(RedisTokenBudgets.key("Team A", "gpt-4o", now.get() / 60_000));
            return value == null ? 0 : Long.parseLong(value);
        }
    }

    @Test
    void twoHundredConcurrentRequestsAcrossTwoReplicasTogetherUseNoMoreThanTheSharedBudgetWithReserve()
            throws Exception {
        try (RedisServer redis = RedisServer.start()) {
            Outcome outcome = twoHundredAtOnceAcrossTwoReplicas("reserve", redis);

            assertEquals(20, outcome.admitted(), "2,000 tokens at 100 per request, across both replicas: " + outcome);
            assertEquals(2_000, outcome.tokens(), "overshoot 0: " + outcome);
            assertEquals(2_000, redisCount(redis), "every hold settled at what its request used");
        }
    }

    @Test
    void twoHundredConcurrentRequestsAcrossTwoReplicasOverrunTheSharedBudgetWithAfter() throws Exception {
        try (RedisServer redis = RedisServer.start()) {
            Outcome outcome = twoHundredAtOnceAcrossTwoReplicas("after", redis);

            assertTrue(outcome.admitted() == 200, "none was booked when the others were checked: " + outcome);
            assertEquals(20_000, outcome.tokens(), "18,000 tokens over the budget of 2,000: " + outcome);
            assertEquals(20_000, redisCount(redis));
        }
    }
}
