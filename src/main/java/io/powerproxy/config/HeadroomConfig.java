package io.powerproxy.config;

import java.time.Duration;
import java.util.Map;

/**
 * {@code aoai.headroom}: route new requests away from a target whose last answers said it has too little rate limit
 * left for them, before it answers 429 (README "Headroom: spilling over before the 429").
 *
 * @param enabled whether the proxy reads the rate-limit headers and routes by them; false keeps the order of
 *     priorities and weights, with failover only on 429
 * @param defaultCompletionTokens the completion tokens a request is taken to need when it sets no {@code max_tokens}
 *     (or {@code max_completion_tokens}, {@code max_output_tokens})
 * @param minRemainingTokens a target is avoided while it has fewer tokens left than this, whatever the request needs
 * @param minRemainingRequests a target is avoided while it has fewer requests left than this (at least 1)
 * @param window how long a remaining count is trusted when the answer says nothing of its reset: Azure counts over a
 *     sliding minute
 * @param redis the Redis settings that share blocks and low headroom with the other replicas (the keys of
 *     LimitUsage's {@code redis:}), or null to keep them per replica
 * @param redisKeyPrefix the prefix of the Redis channel and keys, one per proxy deployment sharing one Redis
 * @param path where the block is in the config
 */
public record HeadroomConfig(boolean enabled, long defaultCompletionTokens, long minRemainingTokens,
        long minRemainingRequests, Duration window, Map<String, Object> redis, String redisKeyPrefix, String path) {

    /** What a config without {@code aoai.headroom} gets. */
    public static final HeadroomConfig DEFAULTS = new HeadroomConfig(true, 1000, 0, 1, Duration.ofSeconds(60), null,
            "powerproxy", "aoai.headroom");

    public HeadroomConfig {
        redis = redis == null ? null : Map.copyOf(redis);
    }

    /** The same switched off, for tests and callers that want the plain priority order. */
    public HeadroomConfig disabled() {
        return new HeadroomConfig(false, defaultCompletionTokens, minRemainingTokens, minRemainingRequests, window,
                redis, redisKeyPrefix, path);
    }

    @Override
    public String toString() {
        return "HeadroomConfig[enabled=" + enabled + ", defaultCompletionTokens=" + defaultCompletionTokens
                + ", minRemainingTokens=" + minRemainingTokens + ", minRemainingRequests=" + minRemainingRequests
                + ", window=" + window + ", redis=" + (redis == null ? "none" : "set") + ", redisKeyPrefix="
                + redisKeyPrefix + "]";
    }
}
