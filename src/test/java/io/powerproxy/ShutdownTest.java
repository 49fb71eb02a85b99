package io.powerproxy;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.Await;
import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.RawHttp;
import io.powerproxy.testing.ScriptedSseUpstream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGTERM to the real proxy process: it exits at once when nothing is in flight, whatever ended before; it lets
 * requests in flight finish within the grace period and cuts off those that outlast it; it flushes the usage sinks
 * and exits 0 either way.
 */
class ShutdownTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String STREAM_REQUEST = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}";
    private static final String REQUEST_ID = "x-powerproxy-request-id";

    @TempDir
    Path dir;

    private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    @Test
    void afterAStreamTheUpstreamResetASigtermWithNothingInFlightExitsLongBeforeTheGrace() throws Exception {
        Duration grace = Duration.ofSeconds(20);
        try (ResettingUpstream upstream = ResettingUpstream.start();
                ChildProxy proxy = ChildProxy.start(config(upstream.baseUrl()), List.of(), Map.of(),
                        "--shutdown-grace", Long.toString(grace.toSeconds()))) {
            HttpResponse<InputStream> cut = client.send(streamRequest(proxy), HttpResponse.BodyHandlers.ofInputStream());
            String cutId = cut.headers().firstValue(REQUEST_ID).orElseThrow();
            try (InputStream body = cut.body()) {
                // The reset comes only once the first event has reached the client: a reset that overtook the event
                // would make the proxy's upstream call fail before any answer, a plain 502 and no broken stream.
                assertTrue(readUntil(body, "Hel").contains("Hel"), "the first event came through");
                upstream.reset();
                assertThrows(IOException.class, body::readAllBytes, "the client sees the broken stream as an error");
            }
            proxy.awaitLineContaining(cutId + " POST");
            // What else a proxy holds when it is told to stop: an idle keep-alive connection, a client that connected
            // and sent nothing, and one that sent half a request line.
            try (Socket keptAlive = new Socket(InetAddress.getLoopbackAddress(), proxy.port());
                    Socket silent = new Socket(InetAddress.getLoopbackAddress(), proxy.port());
                    Socket halfSent = new Socket(InetAddress.getLoopbackAddress(), proxy.port())) {
                keptAlive.getOutputStream().write("GET /powerproxy/health/liveness HTTP/1.1\r\nHost: proxy\r\n\r\n"
                        .getBytes(UTF_8));
                assertTrue(RawHttp.readHead(keptAlive.getInputStream()).startsWith("HTTP/1.1 204"));
                halfSent.getOutputStream().write("POST /openai/deployments/gpt-4o/chat/compl".getBytes(UTF_8));
                halfSent.getOutputStream().flush();

                long signalled = System.nanoTime();
                proxy.sigterm();
                int exit = proxy.awaitExit();
                Duration took = Duration.ofNanos(System.nanoTime() - signalled);
                System.out.println("SIGTERM to exit after an aborted stream, with idle connections open: "
                        + took.toMillis() + " ms; " + proxy.awaitLineContaining("stopped ("));

                assertEquals(0, exit, proxy.tail());
                assertTrue(took.compareTo(grace.dividedBy(2)) < 0,
                        "exited " + took.toMillis() + " ms after SIGTERM, not after waiting for a grace of " + grace);
            }
            assertTrue(csvText().contains(cutId), "the cut stream's usage row was flushed:\n" + csvText());
        }
    }

    @Test
    void aStreamInFlightAtSigtermFinishesWithinTheGraceWhileNewConnectionsAreRefused() throws Exception {
        try (ScriptedSseUpstream upstream = ScriptedSseUpstream.start(chunks(20), Duration.ofMillis(250), Duration.ZERO);
                ChildProxy proxy = ChildProxy.start(config(upstream.baseUrl()), List.of(),
                        Map.of("POWERPROXY_SHUTDOWN_GRACE", "20"))) {
            HttpResponse<InputStream> stream = client.send(streamRequest(proxy), HttpResponse.BodyHandlers.ofInputStream());
            String id = stream.headers().firstValue(REQUEST_ID).orElseThrow();
            String received;
            try (InputStream body = stream.body()) {
                String first = readUntil(body, "\n\n");
                assertTrue(first.contains("word0"), first);

                long signalled = System.nanoTime();
                proxy.sigterm();
                proxy.awaitLineContaining("stopping: waiting up to 20 s for 1 requests in flight");
                awaitRefused(proxy.port());

                received = first + new String(body.readAllBytes(), UTF_8);
                int exit = proxy.awaitExit();
                System.out.println("SIGTERM to exit with a 5 s stream in flight: "
                        + Duration.ofNanos(System.nanoTime() - signalled).toMillis() + " ms; "
                        + proxy.awaitLineContaining("stopped ("));
                assertEquals(0, exit, proxy.tail());
            }

            assertTrue(received.contains("word19") && received.contains("data: [DONE]"), "the whole stream:\n" + received);
            String csv = csvText();
            assertTrue(csv.lines().anyMatch(row -> row.contains(id) && row.contains(",200,")),
                    "the finished stream's usage row, status 200, was flushed:\n" + csv);
        }
    }

    @Test
    void aStreamThatOutlastsTheGraceIsCutOffAndItsUsageStillFlushedBeforeExit0() throws Exception {
        try (ScriptedSseUpstream longStream = ScriptedSseUpstream.start(chunks(300), Duration.ofMillis(200), Duration.ZERO);
                ScriptedSseUpstream shortStream = ScriptedSseUpstream.start(chunks(1), Duration.ZERO, Duration.ZERO);
                ChildProxy proxy = ChildProxy.start(config(longStream.baseUrl(), shortStream.baseUrl()), List.of(), Map.of(),
                        "--shutdown-grace", "1")) {
            // A proxy that has served a stream before: the first stream whose usage is estimated loads the token
            // encoding, which takes seconds on a busy machine, longer than a cut-off request is given.
            HttpResponse<String> warmUp = client.send(streamRequest(proxy, "warm-up"), HttpResponse.BodyHandlers.ofString());
            proxy.awaitLineContaining(warmUp.headers().firstValue(REQUEST_ID).orElseThrow() + " POST");

            HttpResponse<InputStream> stream = client.send(streamRequest(proxy), HttpResponse.BodyHandlers.ofInputStream());
            String id = stream.headers().firstValue(REQUEST_ID).orElseThrow();
            String received;
            try (InputStream body = stream.body()) {
                received = readUntil(body, "\n\n");
                proxy.sigterm();
                try {
                    received += new String(body.readAllBytes(), UTF_8);
                } catch (IOException cut) {
                    // The proxy closed the connection in the middle of a chunk.
                }
            }
            int exit = proxy.awaitExit();
            System.out.println("SIGTERM with a stream that outlasts the grace of 1 s: "
                    + proxy.awaitLineContaining("stopped ("));

            assertEquals(0, exit, proxy.tail());
            assertFalse(received.contains("[DONE]"), "the stream was cut off");
            assertTrue(proxy.output().contains("1 requests still running after the grace of 1 s: cutting them off"),
                    proxy.tail());
            assertTrue(csvText().contains(id), "the cut stream's usage row was flushed:\n" + csvText() + "\n" + proxy.output());
        }
    }

    @Test
    void aShutdownGraceThatIsNoWholeNumberOfSecondsExits2NamingTheOption() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = PowerProxy.run(new String[] {"--shutdown-grace", "25s", "--validate"}, Map.of(),
                new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, UTF_8));

        assertEquals(2, exit);
        assertTrue(err.toString(UTF_8).contains(
                "--shutdown-grace must be a whole number of seconds from 0 to 3600, got '25s'"), err.toString(UTF_8));
    }

    @Test
    void aShutdownGraceFromTheEnvironmentOutOfRangeExits2NamingTheVariable() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = PowerProxy.run(new String[] {"--validate"}, Map.of("POWERPROXY_SHUTDOWN_GRACE", "7200"),
                new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, UTF_8));

        assertEquals(2, exit);
        assertTrue(err.toString(UTF_8).contains("the environment variable POWERPROXY_SHUTDOWN_GRACE must be a whole number"
                + " of seconds from 0 to 3600, got '7200'"), err.toString(UTF_8));
    }

    /** One endpoint at the upstream, and usage rows to CSV files in {@code dir/logs}. */
    private Path config(String upstreamUrl) throws IOException {
        return writeConfig(Configs.oneEndpoint(upstreamUrl));
    }

    /** Deployment gpt-4o at one upstream, deployment warm-up at another, and usage rows to CSV files. */
    private Path config(String gpt4oUrl, String warmUpUrl) throws IOException {
        return writeConfig(Configs.withAoai("""
                endpoints:
                  - name: Sweden
                    url: %s
                    key: %s
                    virtual_deployments:
                      - name: gpt-4o
                        standins: [{name: gpt-4o}]
                  - name: WarmUp
                    url: %s
                    key: %s
                    virtual_deployments:
                      - name: warm-up
                        standins: [{name: warm-up}]
                """.formatted(gpt4oUrl, Configs.ENDPOINT_KEY, warmUpUrl, Configs.ENDPOINT_KEY)));
    }

    private Path writeConfig(String baseYaml) throws IOException {
        String yaml = baseYaml + """
                plugins:
                  - name: LogUsageToCsvFile
                    log_dir: '%s'
                """.formatted(dir.resolve("logs"));
        return Files.writeString(dir.resolve("config.yaml"), yaml);
    }

    private HttpRequest streamRequest(ChildProxy proxy) {
        return streamRequest(proxy, "gpt-4o");
    }

    private HttpRequest streamRequest(ChildProxy proxy, String deployment) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + CHAT.replace("gpt-4o", deployment)))
                .timeout(Duration.ofSeconds(60))
                .header("api-key", Configs.TEAM_A_KEY)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(STREAM_REQUEST))
                .build();
    }

    private String csvText() throws IOException {
        Path logs = dir.resolve("logs");
        if (!Files.isDirectory(logs)) {
            return "";
        }
        StringBuilder text = new StringBuilder();
        try (Stream<Path> files = Files.list(logs)) {
            for (Path csv : files.filter(f -> f.toString().endsWith(".logs.csv")).sorted().toList()) {
                text.append(Files.readString(csv, UTF_8));
            }
        }
        return text.toString();
    }

    private static List<String> chunks(int count) {
        List<String> events = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            events.add("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":"
                    + "{\"content\":\"word" + i + " \"},\"finish_reason\":null}]}\n\n");
        }
        events.add("data: [DONE]\n\n");
        return events;
    }

    /** Waits until connecting to the port is refused (the listening socket is closed). */
    private static void awaitRefused(int port) {
        Await.until("the proxy refuses connections after SIGTERM", () -> {
            try (Socket accepted = new Socket(InetAddress.getLoopbackAddress(), port)) {
                return false;
            } catch (ConnectException refused) {
                return true;
            }
        });
    }

    /** Reads byte by byte until the text read ends with {@code end} (or the stream ends). */
    private static String readUntil(InputStream in, String end) throws IOException {
        ByteArrayOutputStream read = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0) {
            read.write(b);
            if (read.toString(UTF_8).endsWith(end)) {
                break;
            }
        }
        return read.toString(UTF_8);
    }

    /**
     * An upstream that answers every request with the head of an SSE stream and one event, then resets the
     * connection (RST): the answer breaks off after the proxy has passed its status on.
     */
    private static final class ResettingUpstream implements AutoCloseable {
        private final ServerSocket listener;
        private final java.util.concurrent.CountDownLatch reset = new java.util.concurrent.CountDownLatch(1);

        private ResettingUpstream(ServerSocket listener) {
            this.listener = listener;
        }

        static ResettingUpstream start() throws IOException {
            ResettingUpstream upstream = new ResettingUpstream(new ServerSocket(0, 50, InetAddress.getLoopbackAddress()));
            Thread.ofVirtual().start(upstream::serve);
            return upstream;
        }

        String baseUrl() {
            return "http://127.0.0.1:" + listener.getLocalPort();
        }

        private void serve() {
            while (!listener.isClosed()) {
                try (Socket connection = listener.accept()) {
                    InputStream in = connection.getInputStream();
                    in.readNBytes(Math.max(0, RawHttp.contentLength(RawHttp.readHead(in))));
                    OutputStream out = connection.getOutputStream();
                    String event = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n";
                    out.write(("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                            + Integer.toHexString(event.length()) + "\r\n" + event + "\r\n").getBytes(UTF_8));
                    out.flush();
                    reset.await();
                    connection.setSoLinger(true, 0);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                } catch (IOException e) {
                    // Closed by the test, or the proxy went away first.
                }
            }
        }

        /** Resets the connection of the stream under way (and every later one at once). */
        void reset() {
            reset.countDown();
        }

        @Override
        public void close() throws IOException {
            reset.countDown();
            listener.close();
        }
    }
}
