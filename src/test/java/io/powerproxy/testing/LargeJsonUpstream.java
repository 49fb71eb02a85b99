package io.powerproxy.testing;

import static java.nio.charset.StandardCharsets.US_ASCII;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Executors;

/**
 * An upstream whose JSON answers are as large as a test asks (an embeddings list of about {@code size} bytes with
 * {@code model} and {@code usage} at the end), made as they are written, never stored; a request whose body says
 * {@code "stream":true} gets a short chat stream instead. The same bytes can be made again for a digest.
 */
public final class LargeJsonUpstream implements AutoCloseable {

    /** The prompt tokens that every large answer reports in its {@code usage}. */
    public static final int PROMPT_TOKENS = 4321;
    /** The model every large answer names. */
    public static final String MODEL = "text-embedding-3-large";
    /** The events of every stream: this many content chunks, then a usage chunk and {@code [DONE]}. */
    public static final int STREAM_CHUNKS = 50;

    private static final byte[] VECTOR;

    static {
        StringBuilder vector = new StringBuilder();
        for (int i = 0; i < 200; i++) {
            vector.append(i == 0 ? "" : ",").append(i % 2 == 0 ? "-" : "").append("0.0").append(1_000_000 + i * 7919);
        }
        VECTOR = vector.toString().getBytes(US_ASCII);
    }

    private final HttpServer server;

    private LargeJsonUpstream(HttpServer server) {
        this.server = server;
    }

    /**
     * Starts the upstream on a free loopback port.
     *
     * @param size about how many bytes each JSON answer has
     * @param declareLength whether answers carry a Content-Length (else they are chunked)
     */
    public static LargeJsonUpstream start(long size, boolean declareLength) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        long length = length(size);
        server.createContext("/", exchange -> {
            try (exchange) {
                String request = new String(exchange.getRequestBody().readAllBytes(), US_ASCII);
                OutputStream out = exchange.getResponseBody();
                if (request.contains("\"stream\":true")) {
                    exchange.getResponseHeaders().set("Content-Type", "text/event-stream");
                    exchange.sendResponseHeaders(200, 0);
                    for (String event : streamEvents()) {
                        out.write(event.getBytes(US_ASCII));
                        out.flush();
                        Thread.sleep(10);
                    }
                    return;
                }
                exchange.getResponseHeaders().set("Content-Type", "application/json");
                exchange.sendResponseHeaders(200, declareLength ? length : 0);
                write(size, out);
            } catch (IOException | InterruptedException e) {
                // The proxy hung up; the test that caused it says why.
            }
        });
        server.start();
        return new LargeJsonUpstream(server);
    }

    /** The events of every stream, in order. */
    public static List<String> streamEvents() {
        List<String> events = new ArrayList<>();
        for (int i = 0; i < STREAM_CHUNKS; i++) {
            events.add("data: {\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w" + i
                    + " \"}}],\"usage\":null}\n\n");
        }
        events.add("data: {\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
                + "\"completion_tokens\":" + STREAM_CHUNKS + ",\"total_tokens\":" + (STREAM_CHUNKS + 5) + "}}\n\n");
        events.add("data: [DONE]\n\n");
        return events;
    }

    /** Writes the answer of about {@code size} bytes. */
    public static void write(long size, OutputStream out) throws IOException {
        out.write("{\"object\":\"list\",\"data\":[".getBytes(US_ASCII));
        long written = 0;
        for (int index = 0; written < size; index++) {
            byte[] head = ((index == 0 ? "" : ",") + "{\"object\":\"embedding\",\"index\":" + index + ",\"embedding\":[")
                    .getBytes(US_ASCII);
            out.write(head);
            out.write(VECTOR);
            out.write(']');
            out.write('}');
            written += head.length + VECTOR.length + 2;
        }
        out.write(("],\"model\":\"" + MODEL + "\",\"usage\":{\"prompt_tokens\":" + PROMPT_TOKENS + ",\"total_tokens\":"
                + PROMPT_TOKENS + "}}").getBytes(US_ASCII));
    }

    /** The exact length of the answer of about {@code size} bytes. */
    public static long length(long size) throws IOException {
        long[] count = {0};
        write(size, new OutputStream() {
            @Override
            public void write(int b) {
                count[0]++;
            }

            @Override
            public void write(byte[] b, int off, int len) {
                count[0] += len;
            }
        });
        return count[0];
    }

    /** The SHA-256 of the answer of about {@code size} bytes, in hex. */
    public static String sha256(long size) throws IOException {
        MessageDigest digest = newDigest();
        write(size, new DigestOutputStream(OutputStream.nullOutputStream(), digest));
        return HexFormat.of().formatHex(digest.digest());
    }

    /** A new SHA-256 digest. */
    public static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public String baseUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
