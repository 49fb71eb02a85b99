package io.powerproxy.plugins;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

import io.powerproxy.budgets.RedisOptions;
import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.PluginRegistry;
import io.powerproxy.server.ProxyServer;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.RedisServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/**
 * Budgets across a config reload (README "Changing the config while it runs"): tokens spent before it still count
 * after it, also when the clients change and LimitUsage is made anew, and a store shared through Redis stays open.
 */
class LimitUsageReloadTest {

    /** 12:00:15 on some day, in epoch ms: every test stays in this minute, whatever the real clock does. */
    private static final long NOW = 1_764_072_015_000L;

    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final PluginRegistry registry = PluginRegistry.create(
            List.of(LimitUsage.factory(() -> NOW, RedisOptions.DEFAULTS)), getClass().getClassLoader());

    /**
     * Team A may use 15 tokens a minute; the mock's every answer uses 10. Counted after the answer (as the original), so
     * that a second request may overrun the budget once: what these tests count is what carries over a reload.
     */
    private static String config(String redis, boolean withTeamC) {
        return """
                clients:
                  - name: Team A
                    key: %s
                    max_tokens_per_minute_in_k: 0.015
                %s
                plugins:
                  - name: LimitUsage
                    admission: after
                %s
                aoai:
                  mock_response:
                    json: {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": "Hi"}}],
                           "usage": {"completion_tokens": 2, "prompt_tokens": 8, "total_tokens": 10}}
                """.formatted(Configs.TEAM_A_KEY, withTeamC ? """
                  - name: Team C
                    key: team-c-key-5566778899
                    max_tokens_per_minute_in_k: 1
                """ : "", redis.indent(4).stripTrailing());
    }

    @Test
    void tokensSpentBeforeAReloadThatAddsAClientStillCountAfterIt() throws Exception {
        try (ProxyServer server = start(config("", false))) {
            assertEquals(200, chat(server), "10 of 15 tokens spent");
            reload(server, config("", true));
            assertEquals(200, chat(server), "10 spent is below the budget: 20 spent after this one");
            assertEquals(429, chat(server), "the 10 tokens spent before the reload count");
        }
    }

    @Test
    void aBudgetStoreInRedisStaysOpenWhenTheReplacedPluginIsClosed() throws Exception {
        try (RedisServer redis = RedisServer.start()) {
            String settings = """
                    redis:
                      redis_host: 127.0.0.1
                      redis_port: %d
                      redis_ssl: false
                    """.formatted(redis.port());
            try (ProxyServer server = start(config(settings, false))) {
                assertEquals(200, chat(server));
                Object before = server.pipeline().plugins().getFirst();
                reload(server, config(settings, true));
                assertNotSame(before, server.pipeline().plugins().getFirst(), "the clients changed: a new LimitUsage");
                assertEquals(200, chat(server));
                assertEquals(429, chat(server));
                assertEquals(20, spentInRedis(redis), "both requests were booked in Redis");
                assertEquals(204, client.send(HttpRequest.newBuilder(uri(server, "/powerproxy/health/readiness"))
                        .build(), HttpResponse.BodyHandlers.discarding()).statusCode(), "Redis is still reachable");
            }
        }
    }

    private static long spentInRedis(RedisServer redis) {
        try (Jedis jedis = redis.client()) {
            long sum = 0;
            for (String key : jedis.keys("*")) {
                if ("string".equals(jedis.type(key))) {
                    sum += Long.parseLong(jedis.get(key));
                }
            }
            return sum;
        }
    }

    private ProxyServer start(String yaml) throws ConfigException, IOException {
        ProxyConfig config = ConfigLoader.parse(yaml);
        return ProxyServer.start(config, new InetSocketAddress("127.0.0.1", 0), null, registry.createPipeline(config));
    }

    private void reload(ProxyServer server, String yaml) throws ConfigException {
        ProxyConfig next = ConfigLoader.parse(yaml);
        server.apply(next, registry.reloadPipeline(server.config(), server.pipeline(), next), null);
    }

    private int chat(ProxyServer server) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(uri(server, RedisReplica.CHAT)).header("api-key", Configs.TEAM_A_KEY)
                .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(RedisReplica.ASK)).build(),
                HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    private static URI uri(ProxyServer server, String pathAndQuery) {
        return URI.create("http://127.0.0.1:" + server.port() + pathAndQuery);
    }
}
