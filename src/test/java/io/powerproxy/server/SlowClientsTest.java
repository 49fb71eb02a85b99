package io.powerproxy.server;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.Configs;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Clients that send their request headers a byte at a time do not keep the proxy from answering everyone else, on the
 * Java the tests run on (the matrix runs this on Java 21, where the JDK server pins a carrier thread per slow client).
 */
class SlowClientsTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    /** 500 by default; -Dpowerproxy.test.slowClients=2000 to measure more. */
    private static final int SLOW_CLIENTS = Integer.getInteger("powerproxy.test.slowClients", 500);
    private static final Duration TRICKLE_INTERVAL = Duration.ofSeconds(3);
    /** A request line and headers that never end within the test: one byte goes out per interval. */
    private static final byte[] NEVER_ENDING_HEADERS = ("POST " + CHAT + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + "x-slow: " + "a".repeat(200)).getBytes(US_ASCII);
    private static final int MIN_REQUESTS = 20;
    /** Only a safety bound: the loop ends when the slow clients have sent two more bytes each (about 6 s). */
    private static final int MAX_REQUESTS = 200_000;
    /** Far longer than an answer takes, far shorter than the JDK server's bound on reading a request (120 s). */
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    @Test
    void anotherClientIsAnsweredWhileFiveHundredClientsTrickleTheirHeaders() throws Exception {
        String yaml = Configs.withAoai("""
                mock_response:
                  json: {"id": "chatcmpl-1", "object": "chat.completion", "choices": [],
                         "usage": {"completion_tokens": 1, "prompt_tokens": 1, "total_tokens": 2}}
                """);
        try (ChildProxy proxy = ChildProxy.start(Files.writeString(dir.resolve("config.yaml"), yaml), List.of("-Xmx256m"));
                HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
            HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + CHAT))
                    .timeout(REQUEST_TIMEOUT)
                    .header("api-key", Configs.TEAM_A_KEY)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[]}"))
                    .build();
            // One answer before the slow clients come, so that the figures below do not include the first request's
            // class loading.
            assertEquals(200, client.send(request, HttpResponse.BodyHandlers.ofString()).statusCode());
            List<Socket> slow = new ArrayList<>();
            AtomicInteger rounds = new AtomicInteger();
            Thread trickler = null;
            try {
                for (int i = 0; i < SLOW_CLIENTS; i++) {
                    Socket socket = new Socket("127.0.0.1", proxy.port());
                    socket.getOutputStream().write(NEVER_ENDING_HEADERS[0]);
                    slow.add(socket);
                }
                trickler = Thread.ofVirtual().start(() -> trickle(slow, rounds));

                // Requests go on until the slow clients have each sent another byte meanwhile (so the proxy has been
                // waiting on all of them), and at least MIN_REQUESTS were answered.
                int roundsAtStart = rounds.get();
                List<Long> micros = new ArrayList<>();
                while (micros.size() < MAX_REQUESTS && (micros.size() < MIN_REQUESTS || rounds.get() < roundsAtStart + 2)) {
                    long started = System.nanoTime();
                    HttpResponse<String> response;
                    try {
                        response = client.send(request, HttpResponse.BodyHandlers.ofString());
                    } catch (IOException e) {
                        throw new AssertionError("request " + (micros.size() + 1) + " of the other client, with "
                                + SLOW_CLIENTS + " slow clients: " + e + "\n" + proxy.output(), e);
                    }
                    micros.add((System.nanoTime() - started) / 1_000);
                    assertEquals(200, response.statusCode(), response.body());
                }
                assertTrue(rounds.get() >= roundsAtStart + 2, "the slow clients kept sending while the other client was answered");
                assertEquals(SLOW_CLIENTS, stillOpen(slow), "slow connections still open (the proxy waited on all of them)");
                report(micros);
            } finally {
                if (trickler != null) {
                    trickler.interrupt();
                    trickler.join();
                }
                for (Socket socket : slow) {
                    socket.close();
                }
            }
        }
    }

    /** Sends the next header byte on every connection once per interval, until interrupted. */
    private static void trickle(List<Socket> sockets, AtomicInteger rounds) {
        try {
            for (int next = 1; next < NEVER_ENDING_HEADERS.length; next++) {
                Thread.sleep(TRICKLE_INTERVAL);
                for (Socket socket : sockets) {
                    try {
                        socket.getOutputStream().write(NEVER_ENDING_HEADERS[next]);
                    } catch (IOException closedByTheProxy) {
                        // counted at the end as a connection that is no longer open
                    }
                }
                rounds.incrementAndGet();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Connections on which the proxy has neither answered nor closed. */
    private static int stillOpen(List<Socket> sockets) throws IOException {
        int open = 0;
        for (Socket socket : sockets) {
            socket.setSoTimeout(1);
            try {
                socket.getInputStream().read();
            } catch (SocketTimeoutException noAnswerYet) {
                open++;
            } catch (IOException closed) {
                // not open
            }
        }
        return open;
    }

    /** The other client's latency, in the test's output (target/surefire-reports*), for the README's figures. */
    private static void report(List<Long> micros) {
        List<Long> sorted = new ArrayList<>(micros);
        Collections.sort(sorted);
        System.out.printf(Locale.ROOT, "Java %s, %d clients trickling headers: the other client's %d requests took"
                        + " p50 %.1f ms, p99 %.1f ms, max %.1f ms%n", Runtime.version(), SLOW_CLIENTS, sorted.size(),
                percentile(sorted, 50), percentile(sorted, 99), sorted.getLast() / 1000.0);
    }

    private static double percentile(List<Long> sorted, int p) {
        int index = (int) Math.ceil(sorted.size() * p / 100.0) - 1;
        return sorted.get(Math.max(0, index)) / 1000.0;
    }
}
