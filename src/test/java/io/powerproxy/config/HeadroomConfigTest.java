package io.powerproxy.config;

import static io.powerproxy.config.ConfigTestSupport.load;
import static io.powerproxy.config.ConfigTestSupport.problems;
import static io.powerproxy.config.ConfigTestSupport.withAoai;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.budgets.RedisBulletin;
import io.powerproxy.budgets.RedisSettings;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code aoai.headroom}: safe defaults when it is left out, every key read, and problems that name their path. */
class HeadroomConfigTest {

    private static String headroom(String block) {
        return withAoai("""
                aoai:
                  endpoints:
                    - name: East
                      url: https://east.openai.azure.com/
                  headroom:
                %s
                """.formatted(block.indent(4).stripTrailing()));
    }

    @Test
    void aConfigWithoutHeadroomRoutesByItWithTheDefaultsAndSharesNothing() throws ConfigException {
        HeadroomConfig headroom = load(ConfigTestSupport.withAoai(ConfigTestSupport.ONE_ENDPOINT)).aoai().headroom();

        assertTrue(headroom.enabled());
        assertEquals(1000, headroom.defaultCompletionTokens());
        assertEquals(0, headroom.minRemainingTokens());
        assertEquals(1, headroom.minRemainingRequests());
        assertEquals(Duration.ofSeconds(60), headroom.window());
        assertNull(headroom.redis());
        assertNull(RedisBulletin.settings(headroom));
    }

    @Test
    void everyKeyIsRead() throws ConfigException {
        HeadroomConfig headroom = load(headroom("""
                enabled: true
                default_completion_tokens: 4096
                min_remaining_tokens: 2000
                min_remaining_requests: 3
                window_seconds: 10.5
                redis:
                  redis_host: cache.redis.cache.windows.net
                  redis_password: "0123"
                redis_key_prefix: proxy-prod
                """)).aoai().headroom();

        assertEquals(4096, headroom.defaultCompletionTokens());
        assertEquals(2000, headroom.minRemainingTokens());
        assertEquals(3, headroom.minRemainingRequests());
        assertEquals(Duration.ofMillis(10_500), headroom.window());
        assertEquals("proxy-prod", headroom.redisKeyPrefix());
        RedisSettings redis = RedisBulletin.settings(headroom);
        assertEquals("cache.redis.cache.windows.net", redis.host());
        assertEquals(6380, redis.port());
        assertTrue(redis.ssl());
        assertFalse(headroom.toString().contains("0123"), headroom.toString());
    }

    @Test
    void theStartBannerSaysHowHeadroomRoutesAndWhereItIsSharedWithoutThePassword() {
        String summary = ConfigSummary.describe(load(headroom("""
                window_seconds: 10
                redis: {redis_host: cache.example, redis_password: "secret-redis-password"}
                """)));

        assertTrue(summary.contains("headroom: on, default_completion_tokens 1000, min_remaining_tokens 0,"
                + " min_remaining_requests 1, window_seconds 10s, shared through Redis at cache.example (prefix"
                + " powerproxy)"), summary);
        assertFalse(summary.contains("secret-redis-password"), summary);
        assertTrue(ConfigSummary.describe(load(headroom("enabled: false"))).contains("headroom: off"));
    }

    @Test
    void switchedOffItIgnoresItsRedis() throws ConfigException {
        HeadroomConfig headroom = load(headroom("""
                enabled: false
                redis: {redis_host: cache.example}
                """)).aoai().headroom();

        assertFalse(headroom.enabled());
        assertNull(RedisBulletin.settings(headroom));
    }

    @Test
    void valuesThatDoNotFitAreProblemsNamingTheirPath() {
        assertEquals(List.of(
                "aoai.headroom.enabled must be true or false, got 'yes'",
                "aoai.headroom.default_completion_tokens must be a whole number of tokens of at least 0, got '-1'",
                "aoai.headroom.min_remaining_tokens must be a whole number of tokens of at least 0, got '1.5'",
                "aoai.headroom.min_remaining_requests must be a whole number of requests of at least 1, got '0'",
                "aoai.headroom.window_seconds must be a positive number of seconds, got '0'",
                "aoai.headroom.redis_key_prefix must be a word without spaces, e.g. powerproxy-prod, got 'a b'"),
                problems(headroom("""
                        enabled: "yes"
                        default_completion_tokens: -1
                        min_remaining_tokens: 1.5
                        min_remaining_requests: 0
                        window_seconds: 0
                        redis_key_prefix: a b
                        """)));
    }

    @Test
    void headroomThatIsNotAMappingIsAProblem() {
        // YAML reads a bare 'on' as true: a user who meant to switch it on learns where the switch is.
        assertEquals(List.of("aoai.headroom must be a mapping (key: value lines), got true or false"),
                problems(withAoai("""
                        aoai:
                          endpoints:
                            - name: East
                              url: https://east.openai.azure.com/
                          headroom: on
                        """)));
    }

    @Test
    void itsRedisIsCheckedAsLimitUsagesIsWithThePathInEachProblem() throws ConfigException {
        HeadroomConfig headroom = load(headroom("""
                redis:
                  redis_port: 70000
                  redis_db: 1
                """)).aoai().headroom();

        ConfigException problems = assertThrows(ConfigException.class, () -> RedisBulletin.settings(headroom));

        assertTrue(problems.problems().contains("aoai.headroom.redis.redis_host is required: the Redis host name, e.g."
                + " myproxy.redis.cache.windows.net"), problems.problems().toString());
        assertTrue(problems.problems().stream().anyMatch(p -> p.startsWith("aoai.headroom.redis.redis_port must be a"
                + " whole number from 1 to 65535")), problems.problems().toString());
        assertTrue(problems.problems().stream().anyMatch(p -> p.startsWith("aoai.headroom.redis.redis_db is not a Redis"
                + " setting")), problems.problems().toString());
    }
}
