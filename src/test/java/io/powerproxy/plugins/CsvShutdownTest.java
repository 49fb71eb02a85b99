package io.powerproxy.plugins;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.ChildLoad;
import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every answered request has exactly one CSV row, under concurrent load and across a SIGTERM shutdown. */
class CsvShutdownTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String BODY = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}";
    private static final String REQUEST_ID = "x-powerproxy-request-id";

    @TempDir
    Path dir;

    private String config(Path logDir) {
        return Configs.pluginsOnMock("""
                - name: LogUsageToCsvFile
                  log_dir: '%s'
                """.formatted(logDir), 20);
    }

    @Test
    void aThousandConcurrentRequestsThroughTheProxyGetExactlyOneRowEach() throws Exception {
        Path logDir = dir.resolve("logs");
        String yaml = config(logDir);
        ProxyConfig config = ConfigLoader.parse(yaml);
        Plugin plugin = LogUsageToCsvFile.factory().create(new PluginContext(config.plugins().getFirst(), config));
        Set<String> answered = ConcurrentHashMap.newKeySet();

        try (ProxyHarness proxy = ProxyHarness.start(yaml, null, List.of(plugin))) {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<?>> requests = new ArrayList<>();
            try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < 1000; i++) {
                    requests.add(clients.submit(() -> {
                        start.await();
                        HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, BODY);
                        assertEquals(200, response.statusCode(), response.body());
                        answered.add(response.headers().firstValue(REQUEST_ID).orElseThrow());
                        return null;
                    }));
                }
                start.countDown();
            }
            // A request that failed on the client's side fails the test with its own cause, not as a missing row.
            for (Future<?> request : requests) {
                request.get();
            }
            // Usage is recorded just after each answer is sent: wait until every row is on disk before stopping.
            awaitCompleteRows(logDir, 1000);
        }

        assertEquals(1000, answered.size());
        Map<String, Integer> rows = rowsPerRequestId(logDir);
        assertEquals(1000, rows.size());
        assertEquals(Set.of(1), Set.copyOf(rows.values()), "no request has two rows");
        assertEquals(answered, rows.keySet());
    }

    @Test
    void aSigtermDuringLoadExitsCleanlyAndEveryAnsweredRequestHasExactlyOneRow() throws Exception {
        Path logDir = dir.resolve("logs");
        Path configFile = Files.writeString(dir.resolve("config.yaml"), config(logDir));
        // Port 0: the proxy binds a port the kernel picks and names it in its "ready on port N" line, so no other
        // process can take the port between choosing and binding it.
        try (ChildProxy proxy = ChildProxy.start(configFile, List.of())) {
            // SIGTERM goes out once the load is in full swing (100 answers, about a second on an idle machine); the load
            // goes on until the proxy is gone.
            ChildLoad load = ChildLoad.start(proxy, proxy.uri(CHAT), Configs.TEAM_A_KEY, BODY, 50);
            int exit;
            try (load) {
                load.awaitAnswered(100);
                proxy.sigterm();
                exit = proxy.awaitExit();
            }
            Set<String> answered = load.answered();

            String log = proxy.output();
            assertTrue(log.contains("stopped"), log);
            Map<String, Integer> rows = rowsPerRequestId(logDir);
            List<String> missing = answered.stream().filter(id -> !rows.containsKey(id)).sorted().toList();
            List<String> twice = rows.entrySet().stream().filter(e -> e.getValue() > 1).map(Map.Entry::getKey).toList();
            assertTrue(missing.isEmpty(), missing.size() + " of " + answered.size() + " answered requests have no row, e.g. "
                    + missing.subList(0, Math.min(5, missing.size())) + "\n" + proxy.tail());
            assertTrue(twice.isEmpty(), "requests with more than one row: " + twice);
            assertTrue(answered.size() >= 100, "answered " + answered.size() + ", failed " + load.failed());
            assertEquals(0, exit, "exit code after SIGTERM\n" + proxy.tail());
        }
    }

    /** Waits until the CSV files in a directory hold at least this many complete rows (after their headers). */
    private static void awaitCompleteRows(Path logDir, int expected) {
        Await.until(expected + " complete rows", () -> completeRows(logDir) >= expected);
    }

    private static int completeRows(Path logDir) throws IOException {
        int rows = 0;
        for (Path csv : csvFiles(logDir)) {
            String text = Files.readString(csv, UTF_8);
            rows += text.split("\r\n", -1).length - 2;
        }
        return rows;
    }

    /** How many rows each request id has, over every CSV file of the directory. */
    private static Map<String, Integer> rowsPerRequestId(Path logDir) throws IOException {
        Map<String, Integer> rows = new HashMap<>();
        for (Path csv : csvFiles(logDir)) {
            for (String id : LogUsageToCsvFileTest.requestIds(csv)) {
                rows.merge(id, 1, Integer::sum);
            }
        }
        return rows;
    }

    private static List<Path> csvFiles(Path logDir) throws IOException {
        if (!Files.isDirectory(logDir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(logDir)) {
            return files.filter(f -> f.getFileName().toString().endsWith(".logs.csv")).sorted().toList();
        }
    }
}
