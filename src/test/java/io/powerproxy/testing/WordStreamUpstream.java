package io.powerproxy.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;

/**
 * An upstream that streams as many words as the request's {@code x-test-words} header asks for, one chat chunk
 * each with a short random pause, and a usage chunk with exact counts when the request body asks for
 * {@code stream_options.include_usage}, as Azure does. Its words are {@link #word(int)}.
 */
public final class WordStreamUpstream implements AutoCloseable {

    /** The prompt tokens it reports. */
    public static final int PROMPT_TOKENS = 17;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpServer server;

    private WordStreamUpstream(HttpServer server) {
        this.server = server;
    }

    /** The i-th word of every stream, with its leading space. */
    public static String word(int i) {
        return " word" + i;
    }

    /**
     * Starts the upstream.
     *
     * @param honoursIncludeUsage whether it sends the usage chunk when asked (false plays an upstream that
     *     ignores {@code stream_options})
     */
    public static WordStreamUpstream start(boolean honoursIncludeUsage) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 1024);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", exchange -> {
            try (exchange) {
                JsonNode request = JSON.readTree(exchange.getRequestBody().readAllBytes());
                boolean includeUsage = honoursIncludeUsage && request.path("stream_options").path("include_usage").asBoolean();
                int words = Integer.parseInt(exchange.getRequestHeaders().getFirst("x-test-words"));
                exchange.getResponseHeaders().set("Content-Type", "text/event-stream");
                exchange.getResponseHeaders().set("x-ms-region", "Sweden Central");
                exchange.sendResponseHeaders(200, 0);
                OutputStream out = exchange.getResponseBody();
                out.write(("data: {\"choices\":[],\"prompt_filter_results\":[{\"prompt_index\":0}]}\n\n")
                        .getBytes(StandardCharsets.UTF_8));
                out.flush();
                String usageField = includeUsage ? ",\"usage\":null" : "";
                for (int i = 0; i < words; i++) {
                    if (ThreadLocalRandom.current().nextInt(4) == 0) {
                        Thread.sleep(1);
                    }
                    out.write(("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024-08-06\","
                            + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + word(i) + "\"},\"finish_reason\":null}]"
                            + usageField + "}\n\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
                if (includeUsage) {
                    out.write(("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024-08-06\","
                            + "\"choices\":[],\"usage\":{\"prompt_tokens\":" + PROMPT_TOKENS + ",\"completion_tokens\":"
                            + words + ",\"total_tokens\":" + (PROMPT_TOKENS + words) + "}}\n\n").getBytes(StandardCharsets.UTF_8));
                }
                out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (IOException gone) {
                // The proxy hung up.
            }
        });
        server.start();
        return new WordStreamUpstream(server);
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
