package io.powerproxy.budgets;

import io.powerproxy.plugins.Settings;
import io.powerproxy.config.Secrets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The {@code redis:} settings of {@code LimitUsage}, checked completely at start-up with the config path in every
 * message. The password is never shown, not even in {@link #toString()}.
 *
 * <p>The original's two keys, {@code redis_host} and {@code redis_password}, keep their meaning; every other key is
 * optional and defaults to what Azure Cache for Redis expects (TLS on port 6380):
 * <ul>
 *   <li>{@code redis_port}: 1 to 65535, default 6380 (Azure's TLS port).</li>
 *   <li>{@code redis_ssl}: true or false, default true. The server's certificate is checked against the JDK's
 *       trust store, host name included.</li>
 *   <li>{@code redis_user}: an ACL user name, default none (Azure's access keys need no user).</li>
 *   <li>{@code redis_timeout_ms}: how long a request waits for one Redis command, 1 to 60000, default 1000 (on a
 *       2-core machine with both cores saturated, the slowest of 32,000 budget calls took 517 ms).</li>
 *   <li>{@code redis_connect_timeout_ms}: how long opening a new pooled connection (TLS and AUTH included) may
 *       take, 1 to 60000, default 1000.</li>
 *   <li>{@code redis_fail_mode}: {@code open} (default) serves requests on each replica's own budget while Redis
 *       cannot be reached; {@code closed} refuses requests that need a budget with 503 meanwhile.</li>
 * </ul>
 *
 * @param host the Redis host name
 * @param port the Redis port
 * @param password the password (Azure: an access key), or null to send no AUTH
 * @param user the ACL user, or null
 * @param ssl whether to talk TLS
 * @param timeoutMillis the socket timeout of each command, also the longest wait for a pooled connection
 * @param connectTimeoutMillis the timeout for opening a connection
 * @param failMode what requests get while Redis cannot be reached
 */
public record RedisSettings(String host, int port, String password, String user, boolean ssl, int timeoutMillis,
        int connectTimeoutMillis, FailMode failMode) {

    static final int DEFAULT_PORT = 6380;
    static final int DEFAULT_TIMEOUT_MS = 1000;
    static final int DEFAULT_CONNECT_TIMEOUT_MS = 1000;
    private static final int MAX_TIMEOUT_MS = 60_000;
    private static final Set<String> KEYS = Set.of("redis_host", "redis_password", "redis_port", "redis_ssl",
            "redis_user", "redis_timeout_ms", "redis_connect_timeout_ms", "redis_fail_mode");

    /** What a request that needs a budget gets while the shared store cannot be reached. */
    public enum FailMode {
        /** Served on the replica's own budget. */
        OPEN,
        /** Refused with 503 {@code BudgetStoreUnavailable}. */
        CLOSED
    }

    /** Where the budgets live, for messages: {@code Redis at host:port}. */
    public String address() {
        return "Redis at " + host + ":" + port;
    }

    @Override
    public String toString() {
        return "RedisSettings[host=" + host + ", port=" + port + ", password=" + Secrets.mask(password) + ", user="
                + user + ", ssl=" + ssl + ", timeoutMillis=" + timeoutMillis + ", connectTimeoutMillis="
                + connectTimeoutMillis + ", failMode=" + failMode + "]";
    }

    /** Reads the value of a {@code redis:} key; returns null with problems added when it is not valid. */
    public static RedisSettings parse(Object value, String path, List<String> problems) {
        if (!(value instanceof Map<?, ?> map)) {
            problems.add(path + " must be a mapping with at least redis_host (and redis_password for Azure Cache for"
                    + " Redis), got " + Settings.describe(value) + "; remove it to keep budgets per replica");
            return null;
        }
        int before = problems.size();
        for (Object key : map.keySet()) {
            if (!KEYS.contains(String.valueOf(key))) {
                problems.add(path + "." + key + " is not a Redis setting; the settings are: "
                        + String.join(", ", KEYS.stream().sorted().toList()));
            }
        }
        String host = text(map.get("redis_host"), path + ".redis_host", problems);
        if (map.get("redis_host") == null) {
            problems.add(path + ".redis_host is required: the Redis host name, e.g. myproxy.redis.cache.windows.net");
        } else if (host != null && host.isBlank()) {
            problems.add(path + ".redis_host must not be empty");
        }
        String password = secret(map.get("redis_password"), path + ".redis_password", problems);
        String user = text(map.get("redis_user"), path + ".redis_user", problems);
        int port = whole(map, "redis_port", DEFAULT_PORT, 1, 65_535, path, problems);
        boolean ssl = flag(map, "redis_ssl", true, path, problems);
        int timeout = whole(map, "redis_timeout_ms", DEFAULT_TIMEOUT_MS, 1, MAX_TIMEOUT_MS, path, problems);
        int connectTimeout = whole(map, "redis_connect_timeout_ms", DEFAULT_CONNECT_TIMEOUT_MS, 1, MAX_TIMEOUT_MS, path,
                problems);
        FailMode failMode = failMode(map.get("redis_fail_mode"), path + ".redis_fail_mode", problems);
        if (problems.size() > before) {
            return null;
        }
        return new RedisSettings(host.strip(), port, password == null || password.isEmpty() ? null : password,
                user == null || user.isBlank() ? null : user.strip(), ssl, timeout, connectTimeout, failMode);
    }

    private static String text(Object value, String path, List<String> problems) {
        if (value == null || value instanceof String) {
            return (String) value;
        }
        problems.add(path + " must be text, got " + Settings.describe(value));
        return null;
    }

    /** Like {@link #text}, but the message never shows the value. */
    private static String secret(Object value, String path, List<String> problems) {
        if (value == null || value instanceof String) {
            return (String) value;
        }
        // YAML reads an unquoted 0123 as the number 83: accepting it would send a password that was never written.
        problems.add(path + " must be text: put it in quotes so that YAML reads it as written");
        return null;
    }

    private static int whole(Map<?, ?> map, String key, int fallback, int min, int max, String path,
            List<String> problems) {
        Object value = map.get(key);
        if (value == null) {
            return fallback;
        }
        if ((value instanceof Integer || value instanceof Long) && ((Number) value).longValue() >= min
                && ((Number) value).longValue() <= max) {
            return ((Number) value).intValue();
        }
        problems.add(path + "." + key + " must be a whole number from " + min + " to " + max + ", got "
                + Settings.describe(value));
        return fallback;
    }

    private static boolean flag(Map<?, ?> map, String key, boolean fallback, String path, List<String> problems) {
        Object value = map.get(key);
        if (value == null) {
            return fallback;
        }
        if (value instanceof Boolean bool) {
            return bool;
        }
        problems.add(path + "." + key + " must be true or false, got " + Settings.describe(value));
        return fallback;
    }

    private static FailMode failMode(Object value, String path, List<String> problems) {
        if (value == null) {
            return FailMode.OPEN;
        }
        if (value instanceof String text) {
            switch (text.strip().toLowerCase(Locale.ROOT)) {
                case "open" -> {
                    return FailMode.OPEN;
                }
                case "closed" -> {
                    return FailMode.CLOSED;
                }
                default -> {
                }
            }
        }
        problems.add(path + " must be 'open' (serve on each replica's own budget while Redis is down) or 'closed'"
                + " (refuse requests that need a budget with 503), got " + Settings.describe(value));
        return FailMode.OPEN;
    }
}
