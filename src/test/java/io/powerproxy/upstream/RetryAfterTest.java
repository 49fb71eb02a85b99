package io.powerproxy.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How long a target is blocked, read from the headers of its 429/5xx answer. */
class RetryAfterTest {

    private static final ZonedDateTime NOW = ZonedDateTime.of(2026, 11, 25, 12, 0, 0, 0, ZoneOffset.UTC);

    private static Duration from(Map<String, String> headers) {
        return RetryAfter.from(headers::get, NOW);
    }

    @Test
    void retryAfterMsComesFirst() {
        assertEquals(Duration.ofMillis(1234), from(Map.of("retry-after-ms", "1234", "retry-after", "9")));
        assertEquals(Duration.ofNanos(1_500_000), from(Map.of("retry-after-ms", "1.5")));
    }

    @Test
    void retryAfterIsSecondsOrAnHttpDate() {
        assertEquals(Duration.ofSeconds(7), from(Map.of("retry-after", "7")));
        assertEquals(Duration.ofSeconds(90), from(Map.of("retry-after", "Wed, 25 Nov 2026 12:01:30 GMT")));
        assertEquals(Duration.ZERO, from(Map.of("retry-after", "Wed, 25 Nov 2026 11:00:00 GMT")));
    }

    @Test
    void rateLimitResetHeadersCountWhenRetryAfterIsMissingAndTheLaterOneWins() {
        assertEquals(Duration.ofSeconds(6), from(Map.of("x-ratelimit-reset-requests", "2", "x-ratelimit-reset-tokens", "6")));
        assertEquals(Duration.ofSeconds(90), from(Map.of("x-ratelimit-reset-tokens", "1m30s")));
        assertEquals(Duration.ofMillis(250), from(Map.of("x-ratelimit-reset-requests", "250ms")));
    }

    @Test
    void withoutUsableHeadersTheBlockIsTenSeconds() {
        assertEquals(Duration.ofSeconds(10), from(Map.of()));
        assertEquals(Duration.ofSeconds(10), from(Map.of("retry-after", "soon", "retry-after-ms", "-5")));
    }
}
