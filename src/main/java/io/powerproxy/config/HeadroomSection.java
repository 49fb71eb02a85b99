package io.powerproxy.config;

import java.time.Duration;
import java.util.Map;
import java.util.Set;

/** Builds {@code aoai.headroom:}; every key is optional and a config without the block gets the defaults. */
final class HeadroomSection {

    private static final String PATH = "aoai.headroom";
    private static final Set<String> KEYS = Set.of("enabled", "default_completion_tokens", "min_remaining_tokens",
            "min_remaining_requests", "window_seconds", "redis", "redis_key_prefix");

    private final SettingReader read;
    private final ConfigProblems problems;

    HeadroomSection(SettingReader read, ConfigProblems problems) {
        this.read = read;
        this.problems = problems;
    }

    HeadroomConfig build(Map<String, Object> aoai) {
        Map<String, Object> headroom = read.mapping(aoai, "headroom", "aoai");
        if (headroom == null) {
            return HeadroomConfig.DEFAULTS;
        }
        read.warnUnknownKeys(headroom, PATH, KEYS);
        HeadroomConfig defaults = HeadroomConfig.DEFAULTS;
        boolean enabled = headroom.get("enabled") == null ? defaults.enabled() : read.bool(headroom, "enabled", PATH);
        long completion = read.whole(headroom, "default_completion_tokens", PATH,
                (int) defaults.defaultCompletionTokens(), 0, "a whole number of tokens of at least 0");
        long minTokens = read.whole(headroom, "min_remaining_tokens", PATH, (int) defaults.minRemainingTokens(), 0,
                "a whole number of tokens of at least 0");
        long minRequests = read.whole(headroom, "min_remaining_requests", PATH,
                (int) defaults.minRemainingRequests(), 1, "a whole number of requests of at least 1");
        Duration window = read.seconds(headroom, "window_seconds", PATH, defaults.window(), true);
        Map<String, Object> redis = read.mapping(headroom, "redis", PATH);
        String prefix = read.text(headroom, "redis_key_prefix", PATH, false);
        if (prefix == null) {
            prefix = defaults.redisKeyPrefix();
        } else if (prefix.isBlank() || prefix.chars().anyMatch(c -> c <= ' ')) {
            problems.add(PATH + ".redis_key_prefix must be a word without spaces, e.g. powerproxy-prod, got '"
                    + ConfigProblems.abbreviate(prefix) + "'");
        }
        return new HeadroomConfig(enabled, completion, minTokens, minRequests, window, redis, prefix, PATH);
    }
}
