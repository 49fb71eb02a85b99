package io.powerproxy.server;

import com.sun.net.httpserver.HttpServer;
import io.powerproxy.config.EndpointConfig;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.logging.LogFormat;
import io.powerproxy.mock.MockUpstream;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.streaming.IdleTimeout;
import io.powerproxy.upstream.ForwardedHeaders;
import io.powerproxy.upstream.Balancer;
import io.powerproxy.upstream.Failover;
import io.powerproxy.upstream.TokenSource;
import io.powerproxy.upstream.UpstreamClient;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
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
    private final UpstreamClient upstreamClient;
    private final IdleTimeout idleTimeout;
    private final Pipeline pipeline;
    private final BodyMemory bodyMemory;
    private final RequestsInFlight inFlight;
    private final Liveness liveness;

    private ProxyServer(HttpServer server, ExecutorService executor, UpstreamClient upstreamClient,
            IdleTimeout idleTimeout, Pipeline pipeline, BodyMemory bodyMemory, RequestsInFlight inFlight,
            Liveness liveness) {
        this.server = server;
        this.inFlight = inFlight;
        this.liveness = liveness;
        this.bodyMemory = bodyMemory;
        this.executor = executor;
        this.upstreamClient = upstreamClient;
        this.idleTimeout = idleTimeout;
        this.pipeline = pipeline;
    }

    /**
     * Binds and starts the proxy.
     *
     * @param address where to listen; port 0 picks a free port
     * @param tokens Entra ID tokens for endpoints without a key; may be null when every endpoint has one
     * @param pipeline the plugins; closed by {@link #close()}
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
        useJdkDefaults(config);
        ForwardedHeaders headerRules = ForwardedHeaders.create(config.aoai().forwardHeaderOnlyIfNameMatches());
        UpstreamClient upstreamClient = UpstreamClient.create(config.aoai().endpoints(), headerRules, tokens);
        MockUpstream mock = config.aoai().mockResponse() == null ? null : MockUpstream.create(config.aoai().mockResponse());
        Upstream upstream = new Upstream(new Failover(Balancer.create(config.aoai().endpoints(), balancerClock, null),
                upstreamClient), headerRules, mock);
        IdleTimeout idleTimeout = IdleTimeout.start(Duration.ofMillis(100));

        HttpServer server = tls == null ? HttpServer.create(address, 1024) : TlsListener.create(address, 1024, tls);
        ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
        server.setExecutor(executor);
        BodyMemory bodyMemory = BodyMemory.fromSystemProperties();
        RequestsInFlight inFlight = new RequestsInFlight();
        Liveness liveness = new Liveness(upstreamClient);
        server.createContext("/", new ProxyHandler(ClientIdentifier.of(config.clients()), pipeline, upstream, idleTimeout,
                bodyMemory, liveness, LogFormat.configured(System.getenv()) == LogFormat.JSON)).getFilters().add(inFlight);
        server.createContext(OwnEndpointsHandler.PREFIX, new OwnEndpointsHandler(pipeline, liveness)).getFilters()
                .add(inFlight);
        server.start();
        return new ProxyServer(server, executor, upstreamClient, idleTimeout, pipeline, bodyMemory, inFlight, liveness);
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
        long expiry = endpoints.stream().mapToLong(e -> e.limits().keepaliveExpiry().toSeconds()).max().orElse(5);
        setDefaultProperty("jdk.httpclient.keepalive.timeout", Long.toString(Math.max(1, expiry)));
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
        return upstreamClient;
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
        upstreamClient.close();
        pipeline.close();
    }

    @Override
    public void close() {
        stop(Duration.ZERO);
    }
}
