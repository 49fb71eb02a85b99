package io.powerproxy.plugins;

import static io.powerproxy.plugins.PluginTestSupport.context;
import static io.powerproxy.plugins.PluginTestSupport.exchange;
import static io.powerproxy.plugins.PluginTestSupport.usage;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.config.ConfigException;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.pipeline.ProxyException;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * LimitUsage with {@code admission: after} keeps each client within its tokens per minute, per deployment, on an
 * injected clock; {@link LimitUsageReserveTest} tests the default, {@code admission: reserve}.
 */
class LimitUsageTest {

    private static final String CLIENTS = """
            - name: Team 1
              key: team-1-key-0123456789
              max_tokens_per_minute_in_k:
                gpt-35-turbo: 2
                gpt-4o: 1
            - name: Team 2
              key: team-2-key-0123456789
              max_tokens_per_minute_in_k: 1.5
            """;

    /** The original's admission: tokens are counted when the usage is known. */
    private static final String AFTER = "- name: LimitUsage\n  admission: after";

    /** 12:00:15 on some day, in epoch ms. */
    private final AtomicLong now = new AtomicLong(1_764_072_015_000L);

    private LimitUsage plugin(PluginContext context) throws ConfigException {
        return LimitUsage.create(context, now::get);
    }

    /** Lets one request through and books its tokens, as the proxy does. */
    private static void use(LimitUsage plugin, Exchange exchange, long tokens) {
        plugin.onClientIdentified(exchange);
        plugin.onUsage(exchange, usage(exchange, tokens));
    }

    @Test
    void aClientOverItsBudgetGets429WithRetryAfterToTheNextMinute() throws Exception {
        PluginContext context = context(CLIENTS, AFTER);
        LimitUsage plugin = plugin(context);

        use(plugin, exchange(context, 1, "gpt-4o"), 1000);
        use(plugin, exchange(context, 1, "gpt-4o"), 600);
        ProxyException refused = assertThrows(ProxyException.class,
                () -> plugin.onClientIdentified(exchange(context, 1, "gpt-4o")));

        assertEquals(429, refused.status());
        assertEquals("45", refused.headers().get("retry-after"));
        assertEquals("0", refused.headers().get("x-ratelimit-remaining-tokens"));
        assertTrue(refused.getMessage().contains("'Team 2'") && refused.getMessage().contains("1500"), refused.getMessage());
    }

    @Test
    void the429CarriesRetryAfterMsToTheMillisecondAsTheAllBlocked429Does() throws Exception {
        PluginContext context = context(CLIENTS, AFTER);
        LimitUsage plugin = plugin(context);
        now.addAndGet(250);

        use(plugin, exchange(context, 1, "gpt-4o"), 1500);
        ProxyException refused = assertThrows(ProxyException.class,
                () -> plugin.onClientIdentified(exchange(context, 1, "gpt-4o")));

        assertEquals("44750", refused.headers().get("retry-after-ms"));
        assertEquals("45", refused.headers().get("retry-after"));
    }

    @Test
    void theBudgetRefillsWhenTheNextMinuteStarts() throws Exception {
        PluginContext context = context(CLIENTS, AFTER);
        LimitUsage plugin = plugin(context);
        use(plugin, exchange(context, 1, "gpt-4o"), 5000);
        assertThrows(ProxyException.class, () -> plugin.onClientIdentified(exchange(context, 1, "gpt-4o")));

        now.addAndGet(45_000);

        assertDoesNotThrow(() -> plugin.onClientIdentified(exchange(context, 1, "gpt-4o")));
    }

    @Test
    void budgetsArePerClientAndPerDeployment() throws Exception {
        PluginContext context = context(CLIENTS, AFTER);
        LimitUsage plugin = plugin(context);

        use(plugin, exchange(context, 0, "gpt-4o"), 1000);

        assertThrows(ProxyException.class, () -> plugin.onClientIdentified(exchange(context, 0, "gpt-4o")));
        assertDoesNotThrow(() -> plugin.onClientIdentified(exchange(context, 0, "gpt-35-turbo")),
                "the map form gives gpt-35-turbo its own 2k budget");
        assertDoesNotThrow(() -> plugin.onClientIdentified(exchange(context, 1, "gpt-4o")), "another client's budget");
    }

    @Test
    void theNumberFormGivesEveryDeploymentItsOwnBudget() throws Exception {
        PluginContext context = context(CLIENTS, AFTER);
        LimitUsage plugin = plugin(context);

        use(plugin, exchange(context, 1, "gpt-4o"), 1500);

        assertThrows(ProxyException.class, () -> plugin.onClientIdentified(exchange(context, 1, "gpt-4o")));
        assertDoesNotThrow(() -> plugin.onClientIdentified(exchange(context, 1, "gpt-4o-mini")));
    }

    @Test
    void deploymentsMissingFromTheMapAndRequestsWithoutDeploymentAreNotLimited() throws Exception {
        PluginContext context = context(CLIENTS, AFTER);
        LimitUsage plugin = plugin(context);

        for (int i = 0; i < 5; i++) {
            use(plugin, exchange(context, 0, "dall-e-3"), 100_000);
            use(plugin, exchange(context, 0, null), 100_000);
        }
        assertDoesNotThrow(() -> plugin.onClientIdentified(exchange(context, 0, "dall-e-3")));
    }

    @Test
    void everyClientNeedsABudgetAndTheErrorNamesIt() throws Exception {
        PluginContext context = context("""
                - name: Team 1
                  key: team-1-key-0123456789
                - name: Team 2
                  key: team-2-key-0123456789
                  max_tokens_per_minute_in_k: {gpt-4o: lots}
                - name: Team 3
                  key: team-3-key-0123456789
                  max_tokens_per_minute_in_k: -1
                """, "- name: LimitUsage");

        ConfigException problems = assertThrows(ConfigException.class, () -> plugin(context));

        assertEquals(List.of(
                "clients[0].max_tokens_per_minute_in_k is required by LimitUsage (client 'Team 1'): a number of thousand"
                        + " tokens per minute, or a map from deployment to such a number",
                "clients[1].max_tokens_per_minute_in_k.gpt-4o must be a number of 0 or more, got 'lots'",
                "clients[2].max_tokens_per_minute_in_k must be a number of 0 or more, got -1"), problems.problems());
    }

    @Test
    void aRedisEntryThatIsNotAMappingFailsLimitUsageWithItsPath() throws Exception {
        ConfigException problems = assertThrows(ConfigException.class, () -> LimitUsage.create(context("""
                - name: Team 1
                  key: team-1-key-0123456789
                  max_tokens_per_minute_in_k: 1
                """, """
                - name: LimitUsage
                  redis: redis.example.net
                """), System::currentTimeMillis));

        assertEquals(List.of("plugins[0].redis must be a mapping with at least redis_host (and redis_password for Azure"
                + " Cache for Redis), got 'redis.example.net'; remove it to keep budgets per replica"), problems.problems());
    }
}
