package io.powerproxy.testing;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An upstream that streams given SSE events with a pause before each, and records when it finished writing and
 * whether the proxy hung up on it. WireMock cannot tell a test when its client went away; this can.
 */
public final class ScriptedSseUpstream implements AutoCloseable {

    private final HttpServer server;
    private final CountDownLatch finished = new CountDownLatch(1);
    private final CountDownLatch hungUp = new CountDownLatch(1);
    private final AtomicLong finishedAtNanos = new AtomicLong();
    private final CountDownLatch gate = new CountDownLatch(1);
    private final java.util.concurrent.atomic.AtomicBoolean gateHeld = new java.util.concurrent.atomic.AtomicBoolean();

    private ScriptedSseUpstream(HttpServer server) {
        this.server = server;
    }

    /**
     * Starts the upstream on a free port; every request gets the events, each written and flushed after
     * {@code pause}, with (if {@code stallAfterFirst} is positive) a silence that long after the first event.
     */
    public static ScriptedSseUpstream start(List<String> events, Duration pause, Duration stallAfterFirst)
            throws IOException {
        return start(events, pause, stallAfterFirst, false);
    }

    /**
     * Starts an upstream that sends the first event and then waits for {@link #release()} (at most 10 s) before it
     * sends the rest, so a test can see that the first event passed the proxy while the upstream was still streaming.
     */
    public static ScriptedSseUpstream startHeldAfterFirst(List<String> events) throws IOException {
        return start(events, Duration.ZERO, Duration.ZERO, true);
    }

    private static ScriptedSseUpstream start(List<String> events, Duration pause, Duration stallAfterFirst,
            boolean holdAfterFirst) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        ScriptedSseUpstream upstream = new ScriptedSseUpstream(server);
        server.createContext("/", exchange -> {
            try (exchange) {
                exchange.getRequestBody().readAllBytes();
                exchange.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
                exchange.sendResponseHeaders(200, 0);
                OutputStream out = exchange.getResponseBody();
                out.flush();
                for (int i = 0; i < events.size(); i++) {
                    if (i == 1 && holdAfterFirst && !upstream.gate.await(10, java.util.concurrent.TimeUnit.SECONDS)) {
                        upstream.gateHeld.set(true);
                    }
                    Thread.sleep(i == 1 && stallAfterFirst.isPositive() ? stallAfterFirst : pause);
                    out.write(events.get(i).getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
                upstream.finishedAtNanos.set(System.nanoTime());
                upstream.finished.countDown();
            } catch (IOException e) {
                upstream.hungUp.countDown();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        server.start();
        return upstream;
    }

    /** Lets a held upstream send the rest of its events. */
    public void release() {
        gate.countDown();
    }

    /** Whether a held upstream had to wait its whole 10 s because nobody released it. */
    public boolean wasNeverReleased() {
        return gateHeld.get();
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** Waits until the upstream wrote its last event; returns {@link System#nanoTime()} of that moment. */
    public long awaitFinished(Duration timeout) throws InterruptedException {
        if (!finished.await(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
            throw new AssertionError("the upstream did not finish within " + timeout);
        }
        return finishedAtNanos.get();
    }

    /** Whether a write to the proxy failed (the proxy closed the connection) within the timeout. */
    public boolean awaitHungUp(Duration timeout) throws InterruptedException {
        return hungUp.await(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
