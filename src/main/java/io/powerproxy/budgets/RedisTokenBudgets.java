package io.powerproxy.budgets;

import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.NoSuchElementException;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import redis.clients.jedis.ClientSetInfoConfig;
import redis.clients.jedis.ConnectionPoolConfig;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.JedisPooled;
import redis.clients.jedis.exceptions.JedisAccessControlException;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisException;
import redis.clients.jedis.exceptions.JedisNoScriptException;

/**
 * Token budgets in Redis, shared by every replica: one counter per client, deployment and minute, read with one
 * {@code GET} and raised atomically with one script call ({@code INCRBY} then {@code PEXPIRE}), so each check and each
 * update is one round trip. A reservation is one script call too (check and {@code INCRBY} in one step), and so is its
 * settlement (the difference, by {@code INCRBY}). Every failure is thrown as a {@link TokenBudgets.StoreUnavailableException} whose message
 * says what went wrong (e.g. {@code no answer within 1000 ms (redis_timeout_ms)}); {@link FailoverTokenBudgets} decides
 * what requests get then.
 *
 * <p>Keys are {@code powerproxy:tpm:<client>:<deployment>:<minute>}, the minute counted since the epoch (UTC), e.g.
 * {@code powerproxy:tpm:Team 1:gpt-4o:29401200}. In names, {@code %} becomes {@code %25} and {@code :} becomes
 * {@code %3A}, so that client {@code a:b} with deployment {@code c} and client {@code a} with deployment {@code b:c}
 * cannot share a key, while keys stay readable with {@code redis-cli}. Each update sets the key to expire
 * {@link RedisOptions#keyTtl()} (120 s) later, so Redis holds about two minutes of counters and never grows without
 * bound.
 *
 * <p>Connections come from a pool of up to 64 (blocking calls suit virtual threads). A request waits for a connection
 * and for each answer at most {@code redis_timeout_ms}; idle connections are checked and dropped in the background
 * after a minute, so that none is found dead after Azure closes it; after a connection error the idle ones are
 * dropped too, because after a Redis restart they are all dead. Creating this store opens no connection.
 */
public final class RedisTokenBudgets implements TokenBudgets {

    static final String KEY_PREFIX = "powerproxy:tpm:";
    static final int POOL_SIZE = 64;
    static final String ADD_SCRIPT = """
            local total = redis.call('INCRBY', KEYS[1], ARGV[1])
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            return total
            """;
    private static final String ADD_SCRIPT_SHA = sha1(ADD_SCRIPT);
    /**
     * Holds ARGV[1] tokens if they fit in the budget ARGV[2] (the rule of {@link Reservation#fits}), in one step:
     * answers {granted (1 or 0), the minute's tokens}.
     */
    static final String RESERVE_SCRIPT = """
            local used = tonumber(redis.call('GET', KEYS[1]) or '0')
            local tokens = tonumber(ARGV[1])
            local limit = tonumber(ARGV[2])
            if limit <= 0 or (used > 0 and used + tokens > limit) then
              return {0, used}
            end
            used = redis.call('INCRBY', KEYS[1], tokens)
            redis.call('PEXPIRE', KEYS[1], ARGV[3])
            return {1, used}
            """;
    private static final String RESERVE_SCRIPT_SHA = sha1(RESERVE_SCRIPT);
    /**
     * Adds the difference ARGV[1] of a settled reservation to a counter that still exists (one that expired counted a
     * minute long over), never below 0 (a Redis that lost its data meanwhile must not go negative).
     */
    static final String SETTLE_SCRIPT = """
            if redis.call('EXISTS', KEYS[1]) == 0 then
              return 0
            end
            local used = redis.call('INCRBY', KEYS[1], ARGV[1])
            if used < 0 then
              redis.call('SET', KEYS[1], '0')
              used = 0
            end
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            return used
            """;
    private static final String SETTLE_SCRIPT_SHA = sha1(SETTLE_SCRIPT);

    private final JedisPooled jedis;
    private final RedisSettings settings;
    private final String ttlMillis;

    private RedisTokenBudgets(JedisPooled jedis, RedisSettings settings, Duration keyTtl) {
        this.jedis = jedis;
        this.settings = settings;
        this.ttlMillis = Long.toString(keyTtl.toMillis());
    }

    /** A store for the settings; connects only when first used. */
    public static RedisTokenBudgets create(RedisSettings settings, RedisOptions options) {
        if (options.keyTtl().compareTo(Duration.ofMillis(1)) < 0) {
            throw new IllegalArgumentException("keyTtl must be at least 1 ms: " + options.keyTtl());
        }
        return new RedisTokenBudgets(pool(settings, options), settings, options.keyTtl());
    }

    /**
     * A pool of up to {@value #POOL_SIZE} connections for the settings, with their TLS, timeouts and credentials; opens
     * no connection until first used. Other shared state (object owners) uses the same set-up.
     */
    public static JedisPooled pool(RedisSettings settings, RedisOptions options) {
        DefaultJedisClientConfig client = clientConfig(settings, options);
        ConnectionPoolConfig pool = new ConnectionPoolConfig();
        pool.setMaxTotal(POOL_SIZE);
        pool.setMaxIdle(POOL_SIZE);
        pool.setMinIdle(0);
        pool.setMaxWait(Duration.ofMillis(settings.timeoutMillis()));
        pool.setJmxEnabled(false);
        return new JedisPooled(new HostAndPort(settings.host(), settings.port()), client, pool);
    }

    /**
     * How a connection to the configured Redis is made: credentials, timeouts, and TLS that checks the host name too;
     * shared with {@link RedisBulletin}, which needs single connections for its subscription.
     */
    static DefaultJedisClientConfig clientConfig(RedisSettings settings, RedisOptions options) {
        DefaultJedisClientConfig.Builder client = DefaultJedisClientConfig.builder()
                .user(settings.user())
                .password(settings.password())
                .socketTimeoutMillis(settings.timeoutMillis())
                .connectionTimeoutMillis(settings.connectTimeoutMillis())
                // CLIENT SETINFO costs two round trips per new connection, and Redis 6 (Azure's default) rejects it.
                .clientSetInfoConfig(ClientSetInfoConfig.DISABLED)
                .ssl(settings.ssl());
        if (settings.ssl()) {
            SSLParameters parameters = new SSLParameters();
            // Jedis checks the certificate's chain but not its host name unless asked to.
            parameters.setEndpointIdentificationAlgorithm("HTTPS");
            client.sslSocketFactory(options.sslSocketFactory()).sslParameters(parameters);
        }
        return client.build();
    }

    /** The key of a client's counter for a deployment and minute. */
    public static String key(String client, String deployment, long minute) {
        return KEY_PREFIX + escape(client) + ":" + escape(deployment) + ":" + minute;
    }

    private static String escape(String name) {
        if (name.indexOf(':') < 0 && name.indexOf('%') < 0) {
            return name;
        }
        return name.replace("%", "%25").replace(":", "%3A");
    }

    @Override
    public long used(String client, String deployment, long minute) {
        try {
            String value = jedis.get(key(client, deployment, minute));
            return value == null ? 0 : Long.parseLong(value);
        } catch (JedisException | NumberFormatException e) {
            throw unavailable(e);
        }
    }

    @Override
    public void add(String client, String deployment, long minute, long tokens) {
        run(ADD_SCRIPT_SHA, ADD_SCRIPT, key(client, deployment, minute), List.of(Long.toString(tokens), ttlMillis));
    }

    @Override
    public Reservation reserve(String client, String deployment, long minute, long tokens, long limit) {
        Object answer = run(RESERVE_SCRIPT_SHA, RESERVE_SCRIPT, key(client, deployment, minute),
                List.of(Long.toString(tokens), Long.toString(limit), ttlMillis));
        if (!(answer instanceof List<?> pair) || pair.size() != 2 || !(pair.get(0) instanceof Long granted)
                || !(pair.get(1) instanceof Long used)) {
            throw new StoreUnavailableException("it answered the reservation script with " + answer, null);
        }
        return granted == 1 ? Reservation.granted(client, deployment, minute, tokens, used, true)
                : Reservation.refused(client, deployment, minute, tokens, used);
    }

    @Override
    public void settle(Reservation reservation, long usedTokens) {
        long difference = usedTokens - reservation.tokens();
        if (difference != 0) {
            run(SETTLE_SCRIPT_SHA, SETTLE_SCRIPT, key(reservation.client(), reservation.deployment(), reservation.minute()),
                    List.of(Long.toString(difference), ttlMillis));
        }
    }

    /** Runs a script by its SHA-1, loading it when Redis does not know it; one round trip in the usual case. */
    private Object run(String sha, String script, String key, List<String> args) {
        List<String> keys = List.of(key);
        try {
            try {
                return jedis.evalsha(sha, keys, args);
            } catch (JedisNoScriptException e) {
                // A restarted or failed-over Redis has forgotten the script; EVAL runs it and caches it again.
                return jedis.eval(script, keys, args);
            }
        } catch (JedisException e) {
            throw unavailable(e);
        }
    }

    @Override
    public void check() {
        try {
            jedis.ping();
        } catch (JedisConnectionException stale) {
            // After an outage the pool may still hold a connection to the server that went away (one returned by a
            // call that was under way when it did); it fails once. One more try goes out on a new connection.
            try {
                jedis.getPool().clear();
                jedis.ping();
            } catch (JedisException e) {
                throw unavailable(e);
            }
        } catch (JedisException e) {
            throw unavailable(e);
        }
    }

    @Override
    public void close() {
        jedis.close();
    }

    private StoreUnavailableException unavailable(RuntimeException e) {
        if (e instanceof JedisConnectionException) {
            try {
                jedis.getPool().clear();
            } catch (RuntimeException | Error closed) {
                // A pool closed at shutdown has nothing left to clear.
            }
        }
        return new StoreUnavailableException(reason(e, settings), e);
    }

    /** What went wrong, in words an operator can act on; never a secret. */
    static String reason(Throwable failure, RedisSettings settings) {
        for (Throwable t : causes(failure)) {
            String message = String.valueOf(t.getMessage());
            if (t instanceof JedisAccessControlException || message.startsWith("WRONGPASS")
                    || message.startsWith("NOAUTH")) {
                return "it refused the credentials (" + message.split(" ", 2)[0] + "): check redis_password"
                        + (settings.user() != null ? " and redis_user" : "");
            }
            if (t instanceof SocketTimeoutException) {
                return message.toLowerCase(Locale.ROOT).contains("connect")
                        ? "no connection within " + settings.connectTimeoutMillis() + " ms (redis_connect_timeout_ms)"
                        : "no answer within " + settings.timeoutMillis() + " ms (redis_timeout_ms)";
            }
            if (t instanceof ConnectException) {
                return "connection refused (" + message + ")";
            }
            if (t instanceof UnknownHostException) {
                return "unknown host";
            }
            if (t instanceof SSLException) {
                return "TLS failed (" + message + "); is redis_ssl right for port " + settings.port() + "?";
            }
            if (t instanceof NoSuchElementException) {
                return "all " + POOL_SIZE + " connections stayed busy for " + settings.timeoutMillis() + " ms";
            }
        }
        if (failure instanceof JedisConnectionException && failure.getCause() == null) {
            return "connection lost (" + failure.getMessage() + ")";
        }
        Throwable deepest = failure;
        while (deepest.getCause() != null) {
            deepest = deepest.getCause();
        }
        return deepest == failure ? failure.toString() : failure.getMessage() + " (" + deepest + ")";
    }

    /** The failure, its causes and what they suppressed (Jedis keeps each address's connect failure there). */
    private static List<Throwable> causes(Throwable failure) {
        List<Throwable> all = new ArrayList<>();
        for (Throwable t = failure; t != null && all.size() < 20; t = t.getCause()) {
            all.add(t);
            for (Throwable suppressed : t.getSuppressed()) {
                for (Throwable s = suppressed; s != null && all.size() < 20; s = s.getCause()) {
                    all.add(s);
                }
            }
        }
        return all;
    }

    private static String sha1(String script) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-1");
            return HexFormat.of().formatHex(digest.digest(script.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-1", e);
        }
    }
}
