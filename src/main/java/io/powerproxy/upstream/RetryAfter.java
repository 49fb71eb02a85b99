package io.powerproxy.upstream;

import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.function.Function;

/**
 * How long a target that answered 429, 408 or 5xx stays blocked (README "3. Which deployment, which target"): {@code retry-after-ms}, else
 * {@code retry-after} (seconds or an HTTP date), else {@code x-ratelimit-reset-requests} /
 * {@code x-ratelimit-reset-tokens} (seconds, or OpenAI's {@code 1m30s} form), else 10 seconds.
 */
final class RetryAfter {

    static final Duration DEFAULT = Duration.ofSeconds(10);

    private RetryAfter() {
    }

    /**
     * The block duration from an answer's headers.
     *
     * @param header the first value of a lower-case header name, or null
     * @param now the wall-clock time, for HTTP-date values
     */
    static Duration from(Function<String, String> header, ZonedDateTime now) {
        Duration millis = millis(header.apply("retry-after-ms"));
        if (millis != null) {
            return millis;
        }
        String retryAfter = header.apply("retry-after");
        if (retryAfter != null) {
            Duration seconds = seconds(retryAfter);
            if (seconds == null) {
                seconds = httpDate(retryAfter, now);
            }
            if (seconds != null) {
                return seconds;
            }
        }
        Duration requests = seconds(header.apply("x-ratelimit-reset-requests"));
        Duration tokens = seconds(header.apply("x-ratelimit-reset-tokens"));
        if (requests != null || tokens != null) {
            // Both limits must have recovered, so the later one counts.
            return requests == null ? tokens : tokens == null ? requests : requests.compareTo(tokens) > 0 ? requests : tokens;
        }
        return DEFAULT;
    }

    private static Duration millis(String value) {
        if (value == null) {
            return null;
        }
        try {
            double ms = Double.parseDouble(value.trim());
            return ms >= 0 && Double.isFinite(ms) ? Duration.ofNanos((long) (ms * 1_000_000)) : null;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** Plain seconds ({@code 2}, {@code 0.5}) or OpenAI's duration form ({@code 1m30s}, {@code 250ms}, {@code 6m0s}). */
    static Duration seconds(String value) {
        if (value == null || value.isBlank()) {
            return null;
        }
        String text = value.trim();
        try {
            double seconds = Double.parseDouble(text);
            return seconds >= 0 && Double.isFinite(seconds) ? Duration.ofNanos((long) (seconds * 1_000_000_000)) : null;
        } catch (NumberFormatException notPlain) {
            return goDuration(text);
        }
    }

    private static Duration goDuration(String text) {
        long nanos = 0;
        int i = 0;
        boolean any = false;
        while (i < text.length()) {
            int start = i;
            while (i < text.length() && (Character.isDigit(text.charAt(i)) || text.charAt(i) == '.')) {
                i++;
            }
            if (start == i) {
                return null;
            }
            double number;
            try {
                number = Double.parseDouble(text.substring(start, i));
            } catch (NumberFormatException e) {
                return null;
            }
            int unitStart = i;
            while (i < text.length() && Character.isLetter(text.charAt(i))) {
                i++;
            }
            double unitNanos = switch (text.substring(unitStart, i)) {
                case "h" -> 3600e9;
                case "m" -> 60e9;
                case "s" -> 1e9;
                case "ms" -> 1e6;
                default -> -1;
            };
            if (unitNanos < 0) {
                return null;
            }
            nanos += (long) (number * unitNanos);
            any = true;
        }
        return any ? Duration.ofNanos(nanos) : null;
    }

    private static Duration httpDate(String value, ZonedDateTime now) {
        try {
            Duration until = Duration.between(now, ZonedDateTime.parse(value.trim(), DateTimeFormatter.RFC_1123_DATE_TIME));
            return until.isNegative() ? Duration.ZERO : until;
        } catch (DateTimeParseException e) {
            return null;
        }
    }
}
