package io.powerproxy.testing;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An upstream that holds every request until the test opens it, then answers each with the same JSON: so a test knows
 * which requests were in flight at once (all that {@link #arrived()} before {@link #open()}), however slow the machine.
 * A request still held after 60 s is answered anyway, so that a failed test cannot hang.
 */
public final class HeldUpstream implements AutoCloseable {

    private final HttpServer server;
    private final CountDownLatch gate = new CountDownLatch(1);
    private final AtomicInteger arrived = new AtomicInteger();

    private HeldUpstream(HttpServer server) {
        this.server = server;
    }

    /** Starts the upstream on a free port; every request gets {@code json} with status 200 once the gate is open. */
    public static HeldUpstream start(String json) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 1024);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        HeldUpstream upstream = new HeldUpstream(server);
        byte[] answer = json.getBytes(StandardCharsets.UTF_8);
        server.createContext("/", exchange -> {
            try (exchange) {
                exchange.getRequestBody().readAllBytes();
                upstream.arrived.incrementAndGet();
                upstream.gate.await(60, TimeUnit.SECONDS);
                exchange.getResponseHeaders().set("Content-Type", "application/json");
                exchange.sendResponseHeaders(200, answer.length);
                exchange.getResponseBody().write(answer);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        server.start();
        return upstream;
    }

    /** How many requests reached this upstream so far. */
    public int arrived() {
        return arrived.get();
    }

    /** Answers every request held, and every later one at once. */
    public void open() {
        gate.countDown();
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/";
    }

    @Override
    public void close() {
        open();
        server.stop(0);
    }
}
