package io.powerproxy.budgets;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.powerproxy.budgets.CircuitBreaker.Permit;
import io.powerproxy.config.ConfigException;
import io.powerproxy.config.HeadroomConfig;
import io.powerproxy.upstream.Bulletin;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import redis.clients.jedis.ConnectionPoolConfig;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.JedisPooled;
import redis.clients.jedis.JedisPubSub;
import redis.clients.jedis.exceptions.JedisException;
import redis.clients.jedis.exceptions.JedisNoScriptException;
import redis.clients.jedis.params.ScanParams;
import redis.clients.jedis.resps.ScanResult;

/**
 * The replicas' {@link Bulletin} in Redis (README "Headroom: spilling over before the 429"): each notice is published on
 * the channel {@code <prefix>:headroom} and kept under a key {@code <prefix>:headroom:<kind>:<endpoint>:<deployment>}
 * that expires when the notice does, both in one script call; a replica that starts, or reconnects, reads those keys
 * first, so it learns the blocks in force.
 *
 * <p>Nothing here waits on the request path: {@link #post} puts the notice in a bounded queue (dropped when full) that
 * one virtual thread publishes from, behind a {@link CircuitBreaker}; another virtual thread holds the subscription,
 * pings it every 30 s (Azure drops idle connections) and connects again a second after it breaks. While Redis cannot be
 * reached each replica routes on what it learns itself; the outage is logged once when it starts and once when it ends,
 * and does not make the proxy unready.
 *
 * <p>Times between replicas: a notice carries the sender's wall-clock time and how long it holds; the receiver takes
 * off the time in transit (never less than 0, never more than all), so clocks must roughly agree (NTP).
 */
public final class RedisBulletin implements Bulletin {

    private static final Logger LOG = LoggerFactory.getLogger(RedisBulletin.class);
    private static final ObjectMapper JSON = JsonMapper.builder().build();
    static final int QUEUE_SIZE = 1024;
    /** Notices that claim to hold longer than this are taken to hold this long (Azure's daily quotas block a day). */
    static final long LONGEST_MILLIS = 24 * 3_600_000L;
    private static final long PING_EVERY_MILLIS = 30_000;
    private static final long RECONNECT_AFTER_MILLIS = 1000;
    private static final String PUBLISH_SCRIPT = """
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            return redis.call('PUBLISH', ARGV[3], ARGV[1])
            """;
    private static final String PUBLISH_SCRIPT_SHA = sha1(PUBLISH_SCRIPT);

    private final RedisSettings settings;
    private final DefaultJedisClientConfig clientConfig;
    private final JedisPooled jedis;
    private final String channel;
    private final String keyPrefix;
    private final String origin = UUID.randomUUID().toString();
    private final CircuitBreaker breaker;
    private final LongSupplier epochMillis;
    private final ArrayBlockingQueue<Notice> outbox = new ArrayBlockingQueue<>(QUEUE_SIZE);
    private final AtomicReference<Consumer<Notice>> listener = new AtomicReference<>(notice -> { });
    private final AtomicReference<Jedis> subscription = new AtomicReference<>();
    private final AtomicReference<JedisPubSub> subscriber = new AtomicReference<>();
    private final AtomicBoolean down = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile long lastHeardAt;
    private final Thread publisher;
    private final Thread listening;

    private RedisBulletin(RedisSettings settings, RedisOptions options, String prefix, LongSupplier epochMillis) {
        this.settings = settings;
        this.clientConfig = RedisTokenBudgets.clientConfig(settings, options);
        ConnectionPoolConfig pool = new ConnectionPoolConfig();
        pool.setMaxTotal(4);
        pool.setMaxIdle(4);
        pool.setMinIdle(0);
        pool.setMaxWait(java.time.Duration.ofMillis(settings.timeoutMillis()));
        pool.setJmxEnabled(false);
        this.jedis = new JedisPooled(new HostAndPort(settings.host(), settings.port()), clientConfig, pool);
        this.channel = prefix + ":headroom";
        this.keyPrefix = prefix + ":headroom:";
        this.breaker = CircuitBreaker.create(options.breakerOpenFor(), options.breakerFailuresToOpen(),
                options.monotonicMillis());
        this.epochMillis = epochMillis;
        this.lastHeardAt = epochMillis.getAsLong();
        this.publisher = Thread.ofVirtual().name("powerproxy-headroom-publisher").unstarted(this::publishLoop);
        this.listening = Thread.ofVirtual().name("powerproxy-headroom-subscriber").unstarted(this::subscribeLoop);
    }

    /**
     * The Redis settings of {@code aoai.headroom.redis}, checked as LimitUsage's are, or null when there are none or
     * headroom is switched off.
     *
     * @throws ConfigException naming the path of each problem
     */
    public static RedisSettings settings(HeadroomConfig headroom) throws ConfigException {
        if (!headroom.enabled() || headroom.redis() == null) {
            return null;
        }
        List<String> problems = new ArrayList<>();
        RedisSettings settings = RedisSettings.parse(headroom.redis(), headroom.path() + ".redis", problems);
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return settings;
    }

    /** A bulletin through that Redis, started: it connects in the background and keeps trying while it cannot. */
    public static RedisBulletin start(RedisSettings settings, RedisOptions options, String prefix,
            LongSupplier epochMillis) {
        RedisBulletin bulletin = new RedisBulletin(settings, options, prefix, epochMillis);
        // Loads the classes of the JSON path now rather than when the first block has to be told in a hurry.
        decode(bulletin.encode(new Notice(Kind.LOW, "", "", 1, 0, 0), 0), "", 0);
        LOG.info("headroom: blocks and low counts are shared with the other replicas through {} (TLS {}, channel {})",
                settings.address(), settings.ssl() ? "on" : "off", bulletin.channel);
        bulletin.publisher.start();
        bulletin.listening.start();
        return bulletin;
    }

    @Override
    public void post(Notice notice) {
        if (!closed.get() && !outbox.offer(notice)) {
            LOG.debug("headroom: {} notices wait to be published already; one about {} is dropped", QUEUE_SIZE,
                    notice.endpoint());
        }
    }

    @Override
    public void listen(Consumer<Notice> listener) {
        this.listener.set(listener);
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        publisher.interrupt();
        listening.interrupt();
        disconnect();
        jedis.close();
    }

    private void publishLoop() {
        while (!closed.get()) {
            Notice notice;
            try {
                notice = outbox.poll(PING_EVERY_MILLIS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                return;
            }
            if (notice == null) {
                keepSubscriptionAlive();
            } else {
                publish(notice);
            }
        }
    }

    private void publish(Notice notice) {
        Permit permit = breaker.permit();
        if (permit == Permit.SKIP) {
            return;
        }
        String message = encode(notice, epochMillis.getAsLong());
        List<String> keys = List.of(keyPrefix + notice.kind().name().toLowerCase(Locale.ROOT) + ":"
                + escape(notice.endpoint()) + ":" + escape(notice.deployment()));
        List<String> args = List.of(message, Long.toString(Math.min(notice.forMillis(), LONGEST_MILLIS)), channel);
        try {
            try {
                jedis.evalsha(PUBLISH_SCRIPT_SHA, keys, args);
            } catch (JedisNoScriptException e) {
                jedis.eval(PUBLISH_SCRIPT, keys, args);
            }
            breaker.succeeded(permit);
            answered();
        } catch (JedisException e) {
            breaker.failed(permit);
            failed(e);
        }
    }

    /** Pings the subscription; one that has not answered for two rounds is dropped, and the subscriber reconnects. */
    private void keepSubscriptionAlive() {
        JedisPubSub current = subscriber.get();
        if (current == null || !current.isSubscribed()) {
            return;
        }
        if (epochMillis.getAsLong() - lastHeardAt > 2 * PING_EVERY_MILLIS + settings.timeoutMillis()) {
            LOG.info("headroom: the subscription to {} has not answered a ping for a minute; connecting again",
                    settings.address());
            disconnect();
            return;
        }
        try {
            current.ping();
        } catch (JedisException e) {
            disconnect();
        }
    }

    private void subscribeLoop() {
        while (!closed.get()) {
            try (Jedis connection = new Jedis(new HostAndPort(settings.host(), settings.port()), clientConfig)) {
                subscription.set(connection);
                JedisPubSub pubSub = new Listener();
                subscriber.set(pubSub);
                connection.subscribe(pubSub, channel);
            } catch (JedisException | IllegalStateException e) {
                if (closed.get()) {
                    return;
                }
                failed(e);
            } finally {
                subscription.set(null);
                subscriber.set(null);
            }
            try {
                Thread.sleep(RECONNECT_AFTER_MILLIS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /**
     * What the other replicas posted and is still in force, read when the subscription (re)starts; also loads the
     * publishing script, on a pooled connection, so that the first notice to publish finds both ready.
     */
    private void catchUp() {
        try {
            jedis.scriptLoad(PUBLISH_SCRIPT);
            ScanParams match = new ScanParams().match(escapeGlob(keyPrefix) + "*").count(200);
            String cursor = ScanParams.SCAN_POINTER_START;
            int read = 0;
            do {
                ScanResult<String> page = jedis.scan(cursor, match);
                cursor = page.getCursor();
                if (!page.getResult().isEmpty()) {
                    for (String message : jedis.mget(page.getResult().toArray(String[]::new))) {
                        if (message != null) {
                            heard(message);
                            read++;
                        }
                    }
                }
            } while (!"0".equals(cursor));
            LOG.debug("headroom: {} notices in force read from {}", read, settings.address());
        } catch (JedisException e) {
            failed(e);
        }
    }

    private void heard(String message) {
        lastHeardAt = epochMillis.getAsLong();
        Notice notice = decode(message, origin, epochMillis.getAsLong());
        if (notice != null) {
            try {
                listener.get().accept(notice);
            } catch (RuntimeException e) {
                LOG.error("headroom: a notice from another replica could not be applied: {}", notice, e);
            }
        }
    }

    private void disconnect() {
        Jedis connection = subscription.get();
        if (connection != null) {
            try {
                connection.disconnect();
            } catch (RuntimeException e) {
                // It is being dropped anyway.
            }
        }
    }

    private void answered() {
        if (down.compareAndSet(true, false)) {
            LOG.info("headroom: {} answers again; blocks and low counts are shared with the other replicas again",
                    settings.address());
        }
    }

    private void failed(RuntimeException e) {
        if (down.compareAndSet(false, true)) {
            LOG.warn("headroom: {} unavailable: {}; each replica routes on what it learns itself until it answers again",
                    settings.address(), RedisTokenBudgets.reason(e, settings));
        } else {
            LOG.debug("headroom: {} still unavailable: {}", settings.address(), e.toString());
        }
    }

    /** The JSON text of a notice, stamped with the sender and its wall-clock time. */
    String encode(Notice notice, long now) {
        ObjectNode json = JSON.createObjectNode();
        json.put("from", origin);
        json.put("kind", notice.kind().name());
        json.put("endpoint", notice.endpoint());
        json.put("deployment", notice.deployment());
        json.put("at", now);
        json.put("for", Math.min(notice.forMillis(), LONGEST_MILLIS));
        json.put("tokens", notice.remainingTokens());
        json.put("requests", notice.remainingRequests());
        return json.toString();
    }

    /**
     * A notice from its JSON text, holding for what is left of it at {@code now}; null when it is this replica's own,
     * over, or not a notice.
     */
    static Notice decode(String message, String self, long now) {
        try {
            JsonNode json = JSON.readTree(message);
            if (json == null || !json.isObject() || self.equals(json.path("from").asText())) {
                return null;
            }
            Kind kind = switch (json.path("kind").asText()) {
                case "BLOCKED" -> Kind.BLOCKED;
                case "LOW" -> Kind.LOW;
                default -> null;
            };
            String endpoint = json.path("endpoint").textValue();
            String deployment = json.path("deployment").textValue();
            long lasts = Math.min(json.path("for").asLong(0), LONGEST_MILLIS);
            long inTransit = Math.clamp(now - json.path("at").asLong(now), 0, Math.max(0, lasts));
            if (kind == null || endpoint == null || deployment == null || lasts - inTransit <= 0) {
                return null;
            }
            return new Notice(kind, endpoint, deployment, lasts - inTransit, json.path("tokens").asLong(-1),
                    json.path("requests").asLong(-1));
        } catch (java.io.IOException e) {
            return null;
        }
    }

    private static String escape(String name) {
        return name.replace("%", "%25").replace(":", "%3A");
    }

    /** The prefix as a SCAN pattern that matches itself only. */
    private static String escapeGlob(String text) {
        return text.replaceAll("([*?\\[\\]\\\\])", "\\\\$1");
    }

    private static String sha1(String script) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-1");
            return HexFormat.of().formatHex(digest.digest(script.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-1", e);
        }
    }

    /** The subscription's callbacks, on the subscriber thread. */
    private final class Listener extends JedisPubSub {
        @Override
        public void onSubscribe(String channel, int subscribedChannels) {
            lastHeardAt = epochMillis.getAsLong();
            answered();
            catchUp();
        }

        @Override
        public void onMessage(String channel, String message) {
            heard(message);
        }

        @Override
        public void onPong(String pattern) {
            lastHeardAt = epochMillis.getAsLong();
        }
    }
}
