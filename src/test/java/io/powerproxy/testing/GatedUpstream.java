package io.powerproxy.testing;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An upstream that counts the requests it gets, answers a chat completion with usage, and streams when asked: the
 * first event at once, the rest (and {@code [DONE]}) only after {@link #release()}, so a test can keep streams open
 * for as long as it needs.
 */
public final class GatedUpstream implements AutoCloseable {

    /** The completion every non-streaming request gets: 10 tokens in all. */
    public static final String COMPLETION = """
            {"id":"chatcmpl-1","object":"chat.completion","created":1732500000,"model":"gpt-4o",
             "choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Hello."}}],
             "usage":{"completion_tokens":2,"prompt_tokens":8,"total_tokens":10}}""";

    private static final String EVENT = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":"
            + "[{\"index\":0,\"delta\":{\"content\":\"%s\"}}]}\n\n";

    private final HttpServer server;
    private final AtomicInteger requests = new AtomicInteger();
    private final AtomicInteger streamsOpen = new AtomicInteger();
    private final CountDownLatch gate = new CountDownLatch(1);

    private GatedUpstream(HttpServer server) {
        this.server = server;
    }

    /** Starts it on a free loopback port. */
    public static GatedUpstream start() throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 256);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        GatedUpstream upstream = new GatedUpstream(server);
        server.createContext("/", exchange -> {
            upstream.requests.incrementAndGet();
            try (exchange) {
                String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
                if (!body.replace(" ", "").contains("\"stream\":true")) {
                    byte[] answer = COMPLETION.getBytes(StandardCharsets.UTF_8);
                    exchange.getResponseHeaders().set("Content-Type", "application/json");
                    exchange.sendResponseHeaders(200, answer.length);
                    exchange.getResponseBody().write(answer);
                    return;
                }
                exchange.getResponseHeaders().set("Content-Type", "text/event-stream");
                exchange.sendResponseHeaders(200, 0);
                OutputStream out = exchange.getResponseBody();
                out.write(EVENT.formatted("first").getBytes(StandardCharsets.UTF_8));
                out.flush();
                upstream.streamsOpen.incrementAndGet();
                try {
                    upstream.gate.await(60, TimeUnit.SECONDS);
                } finally {
                    upstream.streamsOpen.decrementAndGet();
                }
                out.write(EVENT.formatted("last").getBytes(StandardCharsets.UTF_8));
                out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        server.start();
        return upstream;
    }

    /** Requests received so far. */
    public int requests() {
        return requests.get();
    }

    /** Streams that sent their first event and wait for {@link #release()}. */
    public int streamsOpen() {
        return streamsOpen.get();
    }

    /** Lets every stream, open or to come, send the rest of its events. */
    public void release() {
        gate.countDown();
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @Override
    public void close() {
        gate.countDown();
        server.stop(0);
    }
}
