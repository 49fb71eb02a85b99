package io.powerproxy.testing;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An upstream that counts requests in flight (from their arrival until their answer starts, and the most at once),
 * answers after a delay, and throttles a given share of requests with 429. It answers every path with a small JSON naming itself.
 */
public final class CountingUpstream implements AutoCloseable {

    private final HttpServer server;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger maxInFlight = new AtomicInteger();
    private final AtomicInteger served = new AtomicInteger();
    private final AtomicInteger throttled = new AtomicInteger();

    private CountingUpstream(HttpServer server) {
        this.server = server;
    }

    /**
     * Starts the upstream on a free port.
     *
     * @param name put into every answer as {@code {"served_by": name}}
     * @param delay how long each answer takes
     * @param throttleShare the share of requests answered 429 with {@code retry-after-ms: retryAfterMs}
     */
    public static CountingUpstream start(String name, Duration delay, double throttleShare, long retryAfterMs)
            throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 1024);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        CountingUpstream upstream = new CountingUpstream(server);
        byte[] ok = ("{\"served_by\":\"" + name + "\"}").getBytes(StandardCharsets.UTF_8);
        byte[] tooMany = "{\"error\":{\"code\":\"429\",\"message\":\"Rate limit is exceeded.\"}}".getBytes(StandardCharsets.UTF_8);
        server.createContext("/", exchange -> {
            int now = upstream.inFlight.incrementAndGet();
            upstream.maxInFlight.accumulateAndGet(now, Math::max);
            boolean counted = true;
            try (exchange) {
                exchange.getRequestBody().readAllBytes();
                if (delay.isPositive()) {
                    Thread.sleep(delay);
                }
                exchange.getResponseHeaders().set("Content-Type", "application/json");
                boolean throttle = throttleShare > 0 && ThreadLocalRandom.current().nextDouble() < throttleShare;
                byte[] body = throttle ? tooMany : ok;
                if (throttle) {
                    upstream.throttled.incrementAndGet();
                    exchange.getResponseHeaders().set("retry-after-ms", Long.toString(retryAfterMs));
                } else {
                    upstream.served.incrementAndGet();
                }
                // A request stops counting before its answer goes out: the proxy may send its next request as soon as
                // the answer arrived, before this handler gets to run again, and that one must not count twice.
                upstream.inFlight.decrementAndGet();
                counted = false;
                exchange.sendResponseHeaders(throttle ? 429 : 200, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                if (counted) {
                    upstream.inFlight.decrementAndGet();
                }
            }
        });
        server.start();
        return upstream;
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** The most requests that were in flight at once. */
    public int maxInFlight() {
        return maxInFlight.get();
    }

    /** Requests answered 200. */
    public int served() {
        return served.get();
    }

    /** Requests answered 429. */
    public int throttled() {
        return throttled.get();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
