package io.powerproxy.budgets;

import io.powerproxy.plugins.LimitUsage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.config.ConfigException;
import io.powerproxy.budgets.RedisSettings.FailMode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** LimitUsage's redis settings: the original's keys, Azure's defaults, and messages with paths that hide the password. */
class RedisSettingsTest {

    private static final String PASSWORD = "azure-access-key-0123456789WXYZ";

    private static RedisSettings parse(Map<String, Object> redis, List<String> problems) {
        return RedisSettings.parse(redis, "plugins[1].redis", problems);
    }

    @Test
    void theOriginalsTwoKeysGetAzureCacheForRedisDefaults() {
        List<String> problems = new ArrayList<>();

        RedisSettings settings = parse(Map.of("redis_host", "proxy.redis.cache.windows.net", "redis_password", PASSWORD),
                problems);

        assertEquals(List.of(), problems);
        assertEquals(new RedisSettings("proxy.redis.cache.windows.net", 6380, PASSWORD, null, true, 1000, 1000,
                FailMode.OPEN), settings);
        assertEquals("Redis at proxy.redis.cache.windows.net:6380", settings.address());
    }

    @Test
    void everyOptionalKeyIsRead() {
        List<String> problems = new ArrayList<>();

        RedisSettings settings = parse(Map.of("redis_host", "127.0.0.1", "redis_port", 6379, "redis_ssl", false,
                "redis_user", "proxy", "redis_timeout_ms", 20, "redis_connect_timeout_ms", 300, "redis_fail_mode",
                "Closed"), problems);

        assertEquals(List.of(), problems);
        assertEquals(new RedisSettings("127.0.0.1", 6379, null, "proxy", false, 20, 300, FailMode.CLOSED), settings);
    }

    @Test
    void everyBadValueIsReportedWithItsPath() {
        List<String> problems = new ArrayList<>();

        RedisSettings settings = parse(Map.of("redis_password", 123, "redis_port", 70_000, "redis_ssl", "yes please",
                "redis_timeout_ms", 0, "redis_connect_timeout_ms", 1.5, "redis_fail_mode", "ajar", "redis_db", 2),
                problems);

        assertNull(settings);
        assertEquals(List.of(
                "plugins[1].redis.redis_connect_timeout_ms must be a whole number from 1 to 60000, got 1.5",
                "plugins[1].redis.redis_db is not a Redis setting; the settings are: redis_connect_timeout_ms,"
                        + " redis_fail_mode, redis_host, redis_password, redis_port, redis_ssl, redis_timeout_ms, redis_user",
                "plugins[1].redis.redis_fail_mode must be 'open' (serve on each replica's own budget while Redis is down)"
                        + " or 'closed' (refuse requests that need a budget with 503), got 'ajar'",
                "plugins[1].redis.redis_host is required: the Redis host name, e.g. myproxy.redis.cache.windows.net",
                "plugins[1].redis.redis_password must be text: put it in quotes so that YAML reads it as written",
                "plugins[1].redis.redis_port must be a whole number from 1 to 65535, got 70000",
                "plugins[1].redis.redis_ssl must be true or false, got 'yes please'",
                "plugins[1].redis.redis_timeout_ms must be a whole number from 1 to 60000, got 0"),
                problems.stream().sorted().toList());
    }

    @Test
    void thePasswordIsNeverShown() {
        RedisSettings settings = parse(Map.of("redis_host", "h", "redis_password", PASSWORD), new ArrayList<>());

        assertFalse(settings.toString().contains(PASSWORD), settings.toString());
        assertTrue(settings.toString().contains("****WXYZ"), settings.toString());
    }
}
