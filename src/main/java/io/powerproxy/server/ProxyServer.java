package io.powerproxy.server;

import com.sun.net.httpserver.HttpServer;
import io.powerproxy.affinity.ObjectAffinity;
import io.powerproxy.budgets.RedisBulletin;
import io.powerproxy.budgets.RedisOptions;
import io.powerproxy.budgets.RedisSettings;
import io.powerproxy.config.ConfigException;
import io.powerproxy.config.EndpointConfig;
import io.powerproxy.config.HeadroomConfig;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.metrics.ProxyMetrics;
import io.powerproxy.logging.LogFormat;
import io.powerproxy.mock.MockUpstream;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.streaming.IdleTimeout;
import io.powerproxy.upstream.ForwardedHeaders;
import io.powerproxy.upstream.Balancer;
import io.powerproxy.upstream.Bulletin;
import io.powerproxy.upstream.Failover;
import io.powerproxy.upstream.TokenSource;
import io.powerproxy.upstream.UpstreamClient;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The running proxy: a JDK {@link HttpServer} on virtual threads in front of the configured upstreams. */
public final class ProxyServer implements AutoCloseable {

    /** Keep-alive connections from clients kept open between requests (the JDK's default is 200). */
    static final int MAX_IDLE_CLIENT_CONNECTIONS = 10_000;
    /** Bytes of the JDK HttpClient's read buffer per upstream connection (the JDK's default is 16 KiB). */
    static final int UPSTREAM_READ_BUFFER = 8 * 1024;

    /**
     * How long requests cut off at the end of the grace get to notice it and hand over their usage records (a write
     * to the closed connection fails at once, and an interrupt ends a wait on a silent upstream; a busy machine can
     * still take seconds to schedule them).
     */
    private static final Duration CUT_OFF_REQUESTS_FINISHING = Duration.ofSeconds(3);

    private static final Logger LOG = LoggerFactory.getLogger(ProxyServer.class);

    private final HttpServer server;
    private final ExecutorService executor;
    private final IdleTimeout idleTimeout;
    private final Runtimes runtimes;
    private final LongSupplier balancerClock;
    private final BodyMemory bodyMemory;
    private final RequestsInFlight inFlight;
    private final Liveness liveness;
    /** One reload at a time; guards {@link #stopped} too. */
    private final ReentrantLock reloading = new ReentrantLock();
    private boolean stopped;
    private final ObjectAffinity affinity;
    private final Bulletin bulletin;
    private final ProxyMetrics metrics;

    private ProxyServer(HttpServer server, ExecutorService executor, IdleTimeout idleTimeout, Runtimes runtimes,
            LongSupplier balancerClock, BodyMemory bodyMemory, RequestsInFlight inFlight, Liveness liveness,
            ObjectAffinity affinity, Bulletin bulletin, ProxyMetrics metrics) {
        this.affinity = affinity;
        this.metrics = metrics;
        this.bulletin = bulletin;
        this.server = server;
        this.inFlight = inFlight;
        this.liveness = liveness;
        this.bodyMemory = bodyMemory;
        this.executor = executor;
        this.idleTimeout = idleTimeout;
        this.runtimes = runtimes;
        this.balancerClock = balancerClock;
    }

    /**
     * Binds and starts the proxy.
     *
     * @param address where to listen; port 0 picks a free port
     * @param tokens Entra ID tokens for endpoints without a key; may be null when every endpoint has one
     * @param pipeline the plugins; closed by {@link #close()}, or when a reload replaced them
     */
    public static ProxyServer start(ProxyConfig config, InetSocketAddress address, TokenSource tokens, Pipeline pipeline)
            throws IOException {
        return start(config, address, tokens, pipeline, () -> System.nanoTime() / 1_000_000);
    }

    /** The same, with the clock (monotonic, in ms) that times how long targets stay blocked, for tests. */
    public static ProxyServer start(ProxyConfig config, InetSocketAddress address, TokenSource tokens, Pipeline pipeline,
            LongSupplier balancerClock) throws IOException {
        return start(config, address, tokens, pipeline, balancerClock, null);
    }

    /**
     * The same, speaking HTTPS with the PEM files {@code tls} (re-read when they change) when it is not null; throws
     * IllegalArgumentException saying what to fix when the files cannot be used.
     */
    public static ProxyServer start(ProxyConfig config, InetSocketAddress address, TokenSource tokens, Pipeline pipeline,
            TlsFiles tls) throws IOException {
        return start(config, address, tokens, pipeline, () -> System.nanoTime() / 1_000_000, tls);
    }

    /** The same, with both the balancer's clock and TLS files (may be null), for tests. */
    public static ProxyServer start(ProxyConfig config, InetSocketAddress address, TokenSource tokens, Pipeline pipeline,
            LongSupplier balancerClock, TlsFiles tls) throws IOException {
        return start(config, address, tokens, pipeline, balancerClock, tls, ProxyMetrics.create(config, true));
    }

    /**
     * The same, counting into {@code metrics} (which the pipeline's plugins may report to as well), served at
     * {@code /powerproxy/metrics}.
     */
    public static ProxyServer start(ProxyConfig config, InetSocketAddress address, TokenSource tokens, Pipeline pipeline,
            LongSupplier balancerClock, TlsFiles tls, ProxyMetrics metrics) throws IOException {
        useJdkDefaults(config);
        ForwardedHeaders headerRules = ForwardedHeaders.create(config.aoai().forwardHeaderOnlyIfNameMatches());
        IdleTimeout idleTimeout = IdleTimeout.start(Duration.ofMillis(100));
        UpstreamClient upstreamClient = UpstreamClient.create(config.aoai().endpoints(), headerRules, tokens,
                idleTimeout);
        ObjectAffinity affinity;
        try {
            affinity = ObjectAffinity.create(config.aoai().objectAffinity(), RedisOptions.DEFAULTS);
        } catch (ConfigException e) {
            upstreamClient.close();
            idleTimeout.close();
            throw new IllegalArgumentException(e.getMessage(), e);
        }
        Bulletin bulletin = bulletin(config.aoai().headroom());
        BodyMemory bodyMemory = BodyMemory.fromSystemProperties();
        Runtimes runtimes = new Runtimes();
        runtimes.install(runtime(config, pipeline, upstreamClient, null, balancerClock, idleTimeout, bodyMemory,
                runtimes, affinity, bulletin, metrics));

        HttpServer server = tls == null ? HttpServer.create(address, 1024) : TlsListener.create(address, 1024, tls);
        ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
        server.setExecutor(executor);
        RequestsInFlight inFlight = new RequestsInFlight();
        // Every UpstreamClient reconfigured from this one shares its HttpClients, so this one tells for all.
        Liveness liveness = new Liveness(upstreamClient);
        metrics.requestBodyMemory(bodyMemory::inUse, bodyMemory.capacity());
        metrics.requestsInFlight(inFlight::count);
        server.createContext("/", new ProxyHandler(runtimes, idleTimeout, bodyMemory, liveness, metrics,
                LogFormat.configured(System.getenv()) == LogFormat.JSON)).getFilters()
                .add(inFlight);
        server.createContext(OwnEndpointsHandler.PREFIX, new OwnEndpointsHandler(runtimes, liveness, metrics))
                .getFilters().add(inFlight);
        server.start();
        return new ProxyServer(server, executor, idleTimeout, runtimes, balancerClock, bodyMemory, inFlight, liveness,
                affinity, bulletin, metrics);
    }

    /** Where replicas tell each other about their targets: Redis when {@code aoai.headroom.redis} is set. */
    private static Bulletin bulletin(HeadroomConfig headroom) {
        RedisSettings redis;
        try {
            redis = RedisBulletin.settings(headroom);
        } catch (ConfigException e) {
            throw new IllegalArgumentException(String.join("; ", e.problems()), e);
        }
        return redis == null ? Bulletin.NONE
                : RedisBulletin.start(redis, RedisOptions.DEFAULTS, headroom.redisKeyPrefix(), System::currentTimeMillis);
    }

    /**
     * What one config needs at run time; the upstream client is {@code upstreamClient} itself when
     * {@code runningBalancer} is null (at the start), else reconfigured from it.
     */
    private static ProxyRuntime runtime(ProxyConfig config, Pipeline pipeline, UpstreamClient upstreamClient,
            Balancer runningBalancer, LongSupplier balancerClock, IdleTimeout idleTimeout, BodyMemory bodyMemory,
            Runtimes runtimes, ObjectAffinity affinity, Bulletin bulletin, ProxyMetrics metrics) {
        ForwardedHeaders headerRules = ForwardedHeaders.create(config.aoai().forwardHeaderOnlyIfNameMatches());
        MockUpstream mock = config.aoai().mockResponse() == null ? null : MockUpstream.create(config.aoai().mockResponse());
        Upstream upstream = new Upstream(new Failover(Balancer.create(config.aoai().endpoints(), balancerClock, null,
                config.aoai().headroom(), bulletin, runningBalancer), upstreamClient, metrics), headerRules, mock, affinity);
        return new ProxyRuntime(config, ClientIdentifier.of(config.clients()), pipeline, upstream, upstreamClient,
                new AnswerRelay(pipeline, headerRules, idleTimeout, bodyMemory, metrics), runtimes::drained);
    }

    /**
     * Serves new requests with {@code config} and {@code pipeline} (built from the running {@link #pipeline()}, see
     * {@code PluginRegistry.reloadPipeline}); requests and streams in flight finish with the config they began
     * with. Endpoints that keep their name, URL and connection limits keep their requests in flight and blocks, and
     * the upstream connections are shared. Plugins of the running config that {@code pipeline} does not have are
     * closed when the last request that began before this call has ended.
     *
     * @param tokens Entra ID tokens for endpoints without a key; may be null when every endpoint has one
     * @throws IllegalStateException when the server has been stopped
     */
    public void apply(ProxyConfig config, Pipeline pipeline, TokenSource tokens) {
        reloading.lock();
        try {
            if (stopped) {
                throw new IllegalStateException("the proxy has stopped");
            }
            ProxyRuntime running = runtimes.current();
            UpstreamClient upstreamClient = running.upstreamClient().reconfigured(config.aoai().endpoints(),
                    ForwardedHeaders.create(config.aoai().forwardHeaderOnlyIfNameMatches()), tokens);
            runtimes.install(runtime(config, pipeline, upstreamClient, running.upstream().failover().balancer(),
                    balancerClock, idleTimeout, bodyMemory, runtimes, affinity, bulletin, metrics));
        } finally {
            reloading.unlock();
        }
    }

    /** The process's metrics, which a reloaded config's plugins report to as well. */
    public ProxyMetrics metrics() {
        return metrics;
    }

    /** The config new requests are served with. */
    public ProxyConfig config() {
        return runtimes.current().config();
    }

    /** The plugins new requests go through. */
    public Pipeline pipeline() {
        return runtimes.current().pipeline();
    }

    /**
     * What of {@code next} differs from {@code running} but takes effect only after a restart, because the JDK reads
     * it once per process (see {@link #useJdkDefaults}); one sentence each, empty when nothing.
     */
    public static List<String> restartOnly(ProxyConfig running, ProxyConfig next) {
        List<String> notes = new ArrayList<>();
        if (!running.aoai().objectAffinity().equals(next.aoai().objectAffinity())) {
            notes.add("aoai.object_affinity changes, which applies after a restart (the owners it remembers live as"
                    + " long as the process)");
        }
        if (!Objects.equals(running.aoai().headroom().redis(), next.aoai().headroom().redis())
                || !running.aoai().headroom().redisKeyPrefix().equals(next.aoai().headroom().redisKeyPrefix())) {
            notes.add("aoai.headroom's redis settings change, which apply after a restart (the replicas' bulletin is"
                    + " connected once)");
        }
        long expiryBefore = largestKeepaliveExpiry(running.aoai().endpoints());
        long expiryAfter = largestKeepaliveExpiry(next.aoai().endpoints());
        if (expiryBefore != expiryAfter) {
            notes.add("the largest keepalive_expiry of the endpoints changes from " + expiryBefore + " s to "
                    + expiryAfter + " s, which applies after a restart (the JDK's HTTP client reads it once)");
        }
        int poolBefore = idleConnectionPoolSize(running.aoai().endpoints());
        int poolAfter = idleConnectionPoolSize(next.aoai().endpoints());
        if (poolAfter > poolBefore) {
            notes.add("the endpoints' connections may now total " + poolAfter + ", but at most " + poolBefore
                    + " are kept idle until a restart (the JDK's HTTP client reads its pool size once)");
        }
        return notes;
    }

    private static long largestKeepaliveExpiry(List<EndpointConfig> endpoints) {
        long expiry = endpoints.stream().mapToLong(e -> e.limits().keepaliveExpiry().toSeconds()).max().orElse(5);
        return Math.max(1, expiry);
    }

    /**
     * Sets the system properties of the JDK's HttpServer and HttpClient that the proxy needs, unless the command line
     * set them. The JDK reads them once, when the first server or client of the process starts, so call this before
     * anything builds one; {@link #start} calls it too.
     */
    public static void useJdkDefaults(ProxyConfig config) {
        // TCP_NODELAY keeps small SSE events from waiting on Nagle's algorithm.
        setDefaultProperty("sun.net.httpserver.nodelay", "true");
        // A request must arrive within 120 s: slow-loris clients are cut off.
        setDefaultProperty("sun.net.httpserver.maxReqTime", "120");
        // The server closes every keep-alive connection beyond its idle pool as soon as its answer is sent; a client
        // with a bigger pool then sends its next request on a closed connection and gets no answer at all. Idle
        // connections are still closed after the idle interval (30 s).
        setDefaultProperty("sun.net.httpserver.maxIdleConnections", Integer.toString(MAX_IDLE_CLIENT_CONNECTIONS));
        // The HttpClient's idle pool is per process: it takes the largest keep-alive expiry of the endpoints.
        List<EndpointConfig> endpoints = config.aoai().endpoints();
        setDefaultProperty("jdk.httpclient.keepalive.timeout", Long.toString(largestKeepaliveExpiry(endpoints)));
        setDefaultProperty("jdk.httpclient.connectionPoolSize", Integer.toString(idleConnectionPoolSize(endpoints)));
        // Every connection keeps a read buffer of this size while it is open or pooled; Azure's answers come in small
        // SSE events or modest JSON, so half the default holds them, at half the memory per stream.
        setDefaultProperty("jdk.httpclient.bufsize", Integer.toString(UPSTREAM_READ_BUFFER));
    }

    /**
     * Room in the HttpClient's idle pool for every connection the endpoints can have in use at once (one per request
     * in flight, at most {@code max_connections} each), or for {@code max_keepalive_connections} when that is larger.
     * A smaller pool closes the oldest idle connection each time a busy one comes back: with the original's 20 kept
     * and 64 requests in flight, nearly every request opened a new connection (a TLS handshake against Azure). Idle
     * connections the load no longer needs still close after {@code keepalive_expiry}.
     */
    static int idleConnectionPoolSize(List<EndpointConfig> endpoints) {
        long size = 0;
        for (EndpointConfig endpoint : endpoints) {
            size += Math.max(endpoint.limits().maxConnections(), endpoint.limits().maxKeepaliveConnections());
        }
        return (int) Math.clamp(size, 1, Integer.MAX_VALUE);
    }

    private static void setDefaultProperty(String name, String value) {
        if (System.getProperty(name) == null) {
            System.setProperty(name, value);
        }
    }

    /** Bytes of request bodies the requests in flight hold now (see {@link BodyMemory}). */
    public long requestBodyBytesHeld() {
        return bodyMemory.inUse();
    }

    /** Whether this process can still serve; also the handler for errors no thread caught. */
    public Liveness liveness() {
        return liveness;
    }

    UpstreamClient upstreamClient() {
        return runtimes.current().upstreamClient();
    }

    /** The port the proxy listens on. */
    public int port() {
        return server.getAddress().getPort();
    }

    /** How many requests are being handled now. */
    public int requestsInFlight() {
        return inFlight.count();
    }

    /**
     * Stops accepting, lets requests and streams in flight finish for at most {@code grace}, cuts off those still
     * running then, and flushes and closes the plugins. Returns as soon as the last request has ended.
     */
    public void stop(Duration grace) {
        reloading.lock();
        try {
            stopped = true;
        } finally {
            reloading.unlock();
        }
        // HttpServer.stop(delay) closes the listening socket at once, then waits up to the delay for the exchanges
        // the JDK counts. That count never reaches zero after a response aborted by an exception (the proxy cuts
        // broken streams that way), and before JDK 25 (JDK-8304065, also backported to later 21 updates) stop waits
        // the whole delay even when nothing runs. So the proxy waits on its own count and ends that wait with
        // stop(0), which on every JDK since 21 releases the first call (the latch counted down, or the finished
        // flag polled every 200 ms) and closes every connection left.
        Thread stopAccepting = Thread.ofPlatform().name("powerproxy-stop-accepting")
                .start(() -> server.stop((int) Math.min(Integer.MAX_VALUE, grace.toSeconds() + 1)));
        try {
            if (!inFlight.awaitNone(grace)) {
                LOG.warn("{} requests still running after the grace of {} s: cutting them off", inFlight.count(),
                        grace.toSeconds());
            }
            server.stop(0);
            stopAccepting.join();
            // A request waiting on a silent upstream would see its closed client connection only when it next
            // writes, which can be minutes away.
            executor.shutdownNow();
            if (!inFlight.awaitNone(CUT_OFF_REQUESTS_FINISHING)) {
                LOG.warn("{} requests did not end within {} s of being cut off; their usage is not recorded",
                        inFlight.count(), CUT_OFF_REQUESTS_FINISHING.toSeconds());
            }
        } catch (InterruptedException e) {
            server.stop(0);
            Thread.currentThread().interrupt();
        }
        executor.shutdownNow();
        idleTimeout.close();
        runtimes.current().upstreamClient().close();
        runtimes.closeAll();
        affinity.close();
        bulletin.close();
    }

    @Override
    public void close() {
        stop(Duration.ZERO);
    }
}
