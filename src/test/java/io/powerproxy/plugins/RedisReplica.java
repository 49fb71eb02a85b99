package io.powerproxy.plugins;

import io.powerproxy.budgets.RedisOptions;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RecordingPlugin;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * A proxy replica that keeps its budgets in a real Redis: its own LimitUsage made from the config, then a recorder,
 * behind a proxy on its own port. It lives beside LimitUsage because the factory that takes a clock is package-private.
 */
record RedisReplica(ProxyHarness proxy, LimitUsage limit, RecordingPlugin recorder) implements AutoCloseable {

    static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    /** Holds 8 + 400 tokens while in flight (admission: reserve); the mock's answer then reports what it used. */
    static final String ASK = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":400}";

    /** Starts a replica on a config whose first plugin is LimitUsage. */
    static RedisReplica start(String yaml, LongSupplier epochMillis, RedisOptions options) throws ConfigException {
        ProxyConfig config = ConfigLoader.parse(yaml);
        LimitUsage limit = (LimitUsage) LimitUsage.factory(epochMillis, options)
                .create(new PluginContext(config.plugins().get(0), config));
        RecordingPlugin recorder = new RecordingPlugin();
        return new RedisReplica(ProxyHarness.start(yaml, null, List.of(limit, recorder)), limit, recorder);
    }

    /**
     * The clients (YAML list items), LimitUsage on a plain Redis at 127.0.0.1 with more {@code redis:} settings, and
     * the mock upstream answering {@code answer} (JSON on one line).
     */
    static String config(String clients, int redisPort, String moreRedisSettings, String answer) {
        return """
                clients:
                %s
                plugins:
                  - name: LimitUsage
                    redis:
                      redis_host: 127.0.0.1
                      redis_port: %d
                      redis_ssl: false
                %s
                aoai:
                  mock_response:
                    json: %s
                """.formatted(clients.indent(2).stripTrailing(), redisPort, moreRedisSettings.indent(6).stripTrailing(),
                answer);
    }

    HttpResponse<String> chat(String key) {
        return proxy.postJson(CHAT, key, ASK);
    }

    HttpResponse<String> readiness() {
        return proxy.send(proxy.request("/powerproxy/health/readiness").GET().build());
    }

    /** Waits until the usage of every answered request is booked (LimitUsage books before the recorder sees it). */
    void awaitRecords(int count) {
        assertEquals(count, recorder.await(count).size());
    }

    @Override
    public void close() {
        proxy.close();
    }
}
