package io.powerproxy.config;

import java.time.Duration;
import java.util.Map;

/**
 * The {@code aoai.object_affinity} setting: whether follow-up calls on files, assistants, threads, vector stores,
 * batches and responses go to the endpoint that created the object (README "Objects stay with their endpoint").
 *
 * @param enabled whether the proxy remembers and routes by object owners; on unless set to false
 * @param rememberFor how long an owner is remembered after it was last learned or used
 * @param redis the raw {@code redis:} mapping (the keys of LimitUsage's {@code redis:}), checked where the store is
 *     made; null to remember in this process only
 * @param path where the setting is, for messages
 */
public record ObjectAffinityConfig(boolean enabled, Duration rememberFor, Map<String, Object> redis, String path) {

    /** Remembered for 30 days, as long as Azure keeps a stored response; objects in use are remembered anew. */
    public static final Duration DEFAULT_REMEMBER_FOR = Duration.ofDays(30);

    /** What a config without the setting gets: on, in memory. */
    public static final ObjectAffinityConfig DEFAULT = new ObjectAffinityConfig(true, DEFAULT_REMEMBER_FOR, null,
            "aoai.object_affinity");

    public ObjectAffinityConfig {
        redis = redis == null ? null : Map.copyOf(redis);
    }
}
