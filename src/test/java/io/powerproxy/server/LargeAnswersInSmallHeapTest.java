package io.powerproxy.server;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.Await;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.LargeJsonUpstream;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two 200 MB JSON answers at once, and another client's 20 streams beside them, through a proxy whose heap is 256 MB:
 * both answers arrive complete and byte-exact, every stream completes, and the proxy never runs out of memory. The
 * proxy runs in a JVM of its own, so that its heap bound is real and its memory can be measured.
 */
class LargeAnswersInSmallHeapTest {

    private static final String EMBEDDINGS = "/openai/deployments/emb/embeddings?api-version=2024-10-21";
    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final Pattern READY_LINE = Pattern.compile("ready on port (\\d+)");
    private static final Pattern GC_LINE = Pattern.compile("(\\d+)M->(\\d+)M\\((\\d+)M\\)");
    private static final long SIZE = 200_000_000;

    @TempDir
    Path dir;

    @Test
    void twoAnswersOf200MbAndTwentyStreamsPassThroughAProxyWith256MbOfHeap() throws Exception {
        try (LargeJsonUpstream upstream = LargeJsonUpstream.start(SIZE, false)) {
            Path config = Files.writeString(dir.resolve("config.yaml"), Configs.oneEndpoint(upstream.baseUrl()));
            Path gcLog = dir.resolve("gc.log");
            Process proxy = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx256m", "-Xlog:gc:file=" + gcLog, "-cp", System.getProperty("java.class.path"),
                    "io.powerproxy.PowerProxy", "--config-file", config.toString(), "--host", "127.0.0.1", "--port", "0")
                    .redirectErrorStream(true)
                    .start();
            List<String> output = Collections.synchronizedList(new ArrayList<>());
            AtomicInteger port = new AtomicInteger();
            CountDownLatch ready = new CountDownLatch(1);
            Thread.ofVirtual().start(() -> readOutput(proxy, output, port, ready));
            AtomicLong peakRss = new AtomicLong();
            try {
                Await.until("the proxy gets ready", Duration.ofSeconds(60), () -> String.join("\n", output), () -> {
                    assertTrue(proxy.isAlive(), () -> "the proxy exited:\n" + String.join("\n", output));
                    return ready.getCount() == 0;
                });
                Thread sampler = Thread.ofVirtual().start(() -> sampleRss(proxy, peakRss));
                String expected = LargeJsonUpstream.sha256(SIZE);
                runLoad(port.get(), expected);
                sampler.interrupt();

                String log = String.join("\n", output);
                assertFalse(log.contains("OutOfMemoryError"), log);
                assertTrue(proxy.isAlive());
                long[] heap = heapFigures(gcLog);
                System.out.printf("proxy with -Xmx256m: peak RSS %d MB; heap before GC at most %d MB, after GC at most"
                        + " %d MB (%d collections)%n", peakRss.get() >> 20, heap[0], heap[1], heap[2]);
                assertTrue(heap[1] < 200, "live heap after GC stays well below the bound: " + heap[1] + " MB");
            } finally {
                proxy.destroyForcibly();
                proxy.waitFor(30, TimeUnit.SECONDS);
            }
        }
    }

    private static void runLoad(int port, String expectedSha256) throws Exception {
        try (HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                ExecutorService load = Executors.newVirtualThreadPerTaskExecutor()) {
            CountDownLatch largeStarted = new CountDownLatch(2);
            List<Future<String>> large = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                large.add(load.submit(() -> fetchLarge(client, port, largeStarted)));
            }
            assertTrue(largeStarted.await(120, TimeUnit.SECONDS), "both large answers started");
            List<Future<String>> streams = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                streams.add(load.submit(() -> fetchStream(client, port)));
            }
            for (Future<String> stream : streams) {
                String body = stream.get(300, TimeUnit.SECONDS);
                assertTrue(body.endsWith("data: [DONE]\n\n"), body);
                assertEquals(LargeJsonUpstream.STREAM_CHUNKS, body.split("data: \\{", -1).length - 1, body);
            }
            for (Future<String> answer : large) {
                assertEquals(expectedSha256, answer.get(300, TimeUnit.SECONDS));
            }
        }
    }

    /** Reads one large answer to its end; counts down once 10 MB have arrived; returns its SHA-256. */
    private static String fetchLarge(HttpClient client, int port, CountDownLatch started) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + EMBEDDINGS))
                .header("api-key", Configs.TEAM_A_KEY).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"input\":[\"a\"]}")).build();
        boolean counted = false;
        try {
            HttpResponse<InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
            MessageDigest digest = LargeJsonUpstream.newDigest();
            byte[] buffer = new byte[64 * 1024];
            long received = 0;
            try (InputStream body = response.body()) {
                for (int n; (n = body.read(buffer)) >= 0; ) {
                    digest.update(buffer, 0, n);
                    received += n;
                    if (!counted && received >= 10_000_000) {
                        started.countDown();
                        counted = true;
                    }
                }
            }
            assertEquals(200, response.statusCode());
            return HexFormat.of().formatHex(digest.digest());
        } finally {
            if (!counted) {
                // A failed answer fails the test through its future, not as a wait that never ends.
                started.countDown();
            }
        }
    }

    private static String fetchStream(HttpClient client, int port) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + CHAT))
                .header("api-key", Configs.TEAM_B_KEY).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"stream\":true}")).build();
        HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), response.body());
        return response.body();
    }

    private static void readOutput(Process proxy, List<String> output, AtomicInteger port, CountDownLatch ready) {
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(proxy.getInputStream(), UTF_8))) {
            for (String line; (line = lines.readLine()) != null; ) {
                if (!line.contains(" access - ")) {
                    output.add(line);
                }
                Matcher readyLine = READY_LINE.matcher(line);
                if (readyLine.find()) {
                    port.set(Integer.parseInt(readyLine.group(1)));
                    ready.countDown();
                }
            }
        } catch (IOException e) {
            output.add("(reading the output failed: " + e + ")");
        }
    }

    /** Notes the proxy's resident set size every 100 ms until interrupted (a measurement, not a wait). */
    private static void sampleRss(Process proxy, AtomicLong peak) {
        Path status = Path.of("/proc", Long.toString(proxy.pid()), "status");
        while (!Thread.currentThread().isInterrupted() && Files.exists(status)) {
            try {
                for (String line : Files.readAllLines(status)) {
                    if (line.startsWith("VmRSS:")) {
                        long kb = Long.parseLong(line.replaceAll("\\D", ""));
                        peak.accumulateAndGet(kb << 10, Math::max);
                    }
                }
                Thread.sleep(100);
            } catch (IOException | InterruptedException e) {
                return;
            }
        }
    }

    /** The most heap in use before a collection and after one, in MB, and the number of collections, from the GC log. */
    private static long[] heapFigures(Path gcLog) throws IOException {
        long before = 0;
        long after = 0;
        long collections = 0;
        for (String line : Files.readAllLines(gcLog)) {
            Matcher gc = GC_LINE.matcher(line);
            if (gc.find()) {
                before = Math.max(before, Long.parseLong(gc.group(1)));
                after = Math.max(after, Long.parseLong(gc.group(2)));
                collections++;
            }
        }
        return new long[] {before, after, collections};
    }
}
