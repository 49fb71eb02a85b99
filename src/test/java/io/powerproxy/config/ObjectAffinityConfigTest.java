package io.powerproxy.config;

import static io.powerproxy.config.ConfigTestSupport.load;
import static io.powerproxy.config.ConfigTestSupport.problems;
import static io.powerproxy.config.ConfigTestSupport.withAoai;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code aoai.object_affinity}: on without the key (the original's configs), off with false, its settings checked. */
class ObjectAffinityConfigTest {

    private static final String ENDPOINTS = """
            aoai:
              endpoints:
                - name: East
                  url: https://east.openai.azure.com/
            """;

    @Test
    void aConfigWithoutTheKeyHasItOnInMemoryForThirtyDays() {
        ObjectAffinityConfig affinity = load(withAoai(ENDPOINTS)).aoai().objectAffinity();

        assertTrue(affinity.enabled());
        assertEquals(Duration.ofDays(30), affinity.rememberFor());
        assertNull(affinity.redis());
    }

    @Test
    void falseSwitchesItOffAndAMappingSetsItsSettings() {
        assertFalse(load(withAoai(ENDPOINTS + "  object_affinity: false\n")).aoai().objectAffinity().enabled());

        ObjectAffinityConfig affinity = load(withAoai(ENDPOINTS + """
                  object_affinity:
                    remember_days: 7
                    redis:
                      redis_host: cache.redis.cache.windows.net
                """)).aoai().objectAffinity();

        assertTrue(affinity.enabled());
        assertEquals(Duration.ofDays(7), affinity.rememberFor());
        assertEquals(Map.of("redis_host", "cache.redis.cache.windows.net"), affinity.redis());
    }

    @Test
    void settingsThatAreNotValidAreReportedWithTheirPath() {
        List<String> problems = problems(withAoai(ENDPOINTS + """
                  object_affinity:
                    enabled: maybe
                    remember_days: 0
                    redis: cache.example.net
                """));

        assertTrue(problems.stream().anyMatch(p -> p.startsWith("aoai.object_affinity.enabled must be true or false")),
                problems.toString());
        assertTrue(problems.stream().anyMatch(p -> p.startsWith("aoai.object_affinity.remember_days must be a whole"
                + " number of days from 1 to 3650")), problems.toString());
        assertTrue(problems.stream().anyMatch(p -> p.startsWith("aoai.object_affinity.redis must be a mapping")),
                problems.toString());
        assertTrue(problems(withAoai(ENDPOINTS + "  object_affinity:\n    remember_days: 4000\n")).contains(
                "aoai.object_affinity.remember_days must be a whole number of days from 1 to 3650, got 4000"));
    }
}
