package io.powerproxy.testing;

import io.powerproxy.config.ConfigException;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.metrics.ProxyMetrics;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.server.ProxyServer;
import io.powerproxy.upstream.TokenSource;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongSupplier;

/** A real proxy on a free loopback port, and a client to call it, for end-to-end tests. */
public final class ProxyHarness implements AutoCloseable {

    private final ProxyServer server;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final HttpClient client = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(30))
            .build();

    private ProxyHarness(ProxyServer server) {
        this.server = server;
    }

    /** Starts the proxy on the given YAML config, with no plugins and no token source. */
    public static ProxyHarness start(String yaml) {
        return start(yaml, null, List.of());
    }

    /** Starts the proxy on the given YAML config, with a token source for endpoints without a key and plugins. */
    public static ProxyHarness start(String yaml, TokenSource tokens, List<Plugin> plugins) {
        return start(yaml, tokens, plugins, () -> System.nanoTime() / 1_000_000);
    }

    /**
     * Starts the proxy on a config already parsed, with plugins made from that same config (plugins that keep
     * settings per client match them to that config's clients).
     */
    public static ProxyHarness start(ProxyConfig config, List<Plugin> plugins) {
        return start(config, null, plugins, () -> System.nanoTime() / 1_000_000);
    }

    /** Starts the proxy on a config already parsed, with plugins made from it, and a clock for blocked targets. */
    public static ProxyHarness start(ProxyConfig config, List<Plugin> plugins, LongSupplier balancerClock) {
        return start(config, null, plugins, balancerClock);
    }

    /** Starts the proxy with a clock of its own for how long targets stay blocked (see {@link FakeClock}). */
    public static ProxyHarness start(String yaml, TokenSource tokens, List<Plugin> plugins, LongSupplier balancerClock) {
        try {
            return start(ConfigLoader.parse(yaml), tokens, plugins, balancerClock);
        } catch (ConfigException e) {
            throw new IllegalStateException("cannot start the proxy: " + e.getMessage(), e);
        }
    }

    private static ProxyHarness start(ProxyConfig config, TokenSource tokens, List<Plugin> plugins,
            LongSupplier balancerClock) {
        try {
            return new ProxyHarness(ProxyServer.start(config, new InetSocketAddress("127.0.0.1", 0), tokens,
                    Pipeline.of(plugins), balancerClock));
        } catch (IOException e) {
            throw new IllegalStateException("cannot start the proxy: " + e.getMessage(), e);
        }
    }

    /**
     * Starts the proxy with its plugins' pipeline and the metrics both count into, and a clock of its own for how long
     * targets stay blocked.
     */
    public static ProxyHarness start(ProxyConfig config, Pipeline pipeline, ProxyMetrics metrics,
            LongSupplier balancerClock) {
        try {
            return new ProxyHarness(ProxyServer.start(config, new InetSocketAddress("127.0.0.1", 0), null, pipeline,
                    balancerClock, null, metrics));
        } catch (IOException e) {
            throw new IllegalStateException("cannot start the proxy: " + e.getMessage(), e);
        }
    }

    /** Bytes of request bodies the requests in flight hold now. */
    public long requestBodyBytesHeld() {
        return server.requestBodyBytesHeld();
    }

    public int port() {
        return server.port();
    }

    /** The proxy's URI for a path (and query) such as {@code /openai/deployments/x/chat/completions?api-version=1}. */
    public URI uri(String pathAndQuery) {
        return URI.create("http://127.0.0.1:" + server.port() + pathAndQuery);
    }

    /** A request builder for a path of the proxy, with a 30 s timeout. */
    public HttpRequest.Builder request(String pathAndQuery) {
        return HttpRequest.newBuilder(uri(pathAndQuery)).timeout(Duration.ofSeconds(30));
    }

    /** A JSON POST with the given client key in {@code api-key}. */
    public HttpResponse<String> postJson(String pathAndQuery, String apiKey, String json) {
        return send(request(pathAndQuery)
                .header("api-key", apiKey)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json))
                .build());
    }

    public HttpResponse<String> send(HttpRequest request) {
        try {
            return client.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public HttpResponse<byte[]> sendForBytes(HttpRequest request) {
        try {
            return client.send(request, HttpResponse.BodyHandlers.ofByteArray());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Sends and returns as soon as the headers arrived; the caller reads and closes the body. */
    public HttpResponse<InputStream> sendForStream(HttpRequest request) {
        try {
            return client.send(request, HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public HttpClient client() {
        return client;
    }

    /** Stops the proxy; once it returns, every handler has ended and handed over its usage record. Idempotent. */
    public void stop() {
        if (closed.compareAndSet(false, true)) {
            server.close();
            client.close();
        }
    }

    @Override
    public void close() {
        stop();
    }
}
