package io.powerproxy.plugins;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.BODY;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.CHAT;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.REQUEST_ID;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.TEAM_A_KEY;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.github.tomakehurst.wiremock.stubbing.StubMapping;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.testing.HttpsWireMock;
import io.powerproxy.testing.ProxyHarness;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A proxy process stopped with SIGTERM while Log Analytics is down leaves every usage record in its spool, and the
 * next start sends them all, once, in order.
 */
class LogUsageToLogAnalyticsShutdownTest {

    private static final Pattern READY = Pattern.compile("ready on port (\\d+)");

    @TempDir
    Path dir;

    @Test
    void aSigtermWhileLogAnalyticsIsDownSpoolsEveryRecordAndTheNextStartSendsThemOnceInOrder() throws Exception {
        try (HttpsWireMock azure = HttpsWireMock.start(dir)) {
            LogUsageToLogAnalyticsTest.stubTokenAndIngestion(azure);
            StubMapping outage = azure.server().stubFor(post(urlPathMatching("/dataCollectionRules/.*")).atPriority(1)
                    .willReturn(aResponse().withStatus(503)));
            Path logDir = dir.resolve("logs");
            String yaml = LogUsageToLogAnalyticsTest.config(azure, logDir, """
                    extended_columns: true
                    batch_max_seconds: 0.1
                    retry_max_seconds: 1""");
            Path configFile = Files.writeString(dir.resolve("config.yaml"), yaml);
            Path spoolDir = logDir.resolve("loganalytics-spool");

            Set<String> answered = ConcurrentHashMap.newKeySet();
            int exit = runUnderLoadAndSigterm(azure, configFile, answered);

            assertEquals(0, exit, "exit code after SIGTERM");
            assertTrue(answered.size() >= 100, "answered " + answered.size());
            List<String> spooled = LogUsageToLogAnalyticsTest.spooledIds(spoolDir);
            assertEquals(spooled.size(), new HashSet<>(spooled).size(), "no row spooled twice");
            List<String> missing = answered.stream().filter(id -> !spooled.contains(id)).toList();
            assertTrue(missing.isEmpty(), missing.size() + " answered requests have no spooled row");
            assertTrue(LogUsageToLogAnalyticsTest.deliveredIds(azure).isEmpty(), "nothing got through the outage");

            azure.server().removeStub(outage);
            try (LogUsageToLogAnalytics next = LogUsageToLogAnalyticsTest.plugin(azure, yaml)) {
                LogUsageToLogAnalyticsTest.awaitTrue(
                        () -> LogUsageToLogAnalyticsTest.deliveredIds(azure).size() >= spooled.size(), "the spool is sent");
                LogUsageToLogAnalyticsTest.awaitTrue(() -> LogUsageToLogAnalyticsTest.spooledIds(spoolDir).isEmpty(),
                        "the spool is emptied");
                LogUsageToLogAnalyticsTest.awaitTrue(() -> next.readinessProblem() == null, "ready");
            }
            assertEquals(spooled, LogUsageToLogAnalyticsTest.deliveredIds(azure), "every spooled row once, in order");
        }
    }

    /** Starts {@link Child}, loads it until 100 requests were answered, sends SIGTERM, returns its exit code. */
    private int runUnderLoadAndSigterm(HttpsWireMock azure, Path configFile, Set<String> answered) throws Exception {
        Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"),
                "-Djavax.net.ssl.trustStore=" + azure.trustStore(),
                "-Djavax.net.ssl.trustStorePassword=" + HttpsWireMock.STORE_PASSWORD,
                "-Djavax.net.ssl.trustStoreType=PKCS12",
                Child.class.getName(), configFile.toString(), azure.baseUrl())
                .redirectErrorStream(true)
                .start();
        List<String> output = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch ready = new CountDownLatch(1);
        int[] port = {0};
        Thread reader = Thread.ofVirtual().start(() -> {
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(child.getInputStream(), UTF_8))) {
                for (String line; (line = lines.readLine()) != null; ) {
                    output.add(line);
                    Matcher matcher = READY.matcher(line);
                    if (matcher.find()) {
                        port[0] = Integer.parseInt(matcher.group(1));
                        ready.countDown();
                    }
                }
            } catch (IOException e) {
                output.add("(reading the output failed: " + e + ")");
            }
        });
        try {
            long readyBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!ready.await(50, TimeUnit.MILLISECONDS)) {
                if (!child.isAlive() || System.nanoTime() > readyBy) {
                    reader.join(Duration.ofSeconds(5));
                    fail("the child did not get ready:\n" + String.join("\n", output));
                }
            }
            CountDownLatch someAnswered = new CountDownLatch(100);
            long loadEnds = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            try (HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(Duration.ofSeconds(5)).build();
                    ExecutorService load = Executors.newVirtualThreadPerTaskExecutor()) {
                HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port[0] + CHAT))
                        .timeout(Duration.ofSeconds(30))
                        .header("api-key", TEAM_A_KEY)
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(BODY))
                        .build();
                for (int i = 0; i < 16; i++) {
                    load.submit(() -> {
                        for (int sent = 0; sent < 500 && System.nanoTime() < loadEnds && child.isAlive(); sent++) {
                            try {
                                HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
                                if (response.statusCode() == 200) {
                                    answered.add(response.headers().firstValue(REQUEST_ID).orElseThrow());
                                    someAnswered.countDown();
                                }
                            } catch (IOException refusedOrCut) {
                                // The proxy is going away.
                            }
                        }
                        return null;
                    });
                }
                assertTrue(someAnswered.await(30, TimeUnit.SECONDS), "the child answers\n" + String.join("\n", output));
                // SIGTERM through the handle: Process.destroy() would also close the output still being read.
                assertTrue(child.toHandle().destroy(), "SIGTERM sent");
                assertTrue(child.waitFor(60, TimeUnit.SECONDS), "the child exits after SIGTERM");
            }
            reader.join(Duration.ofSeconds(10));
            String log = String.join("\n", output);
            assertTrue(log.contains("stay spooled"), log);
            assertTrue(log.contains("child stopped"), log);
            return child.exitValue();
        } finally {
            if (child.isAlive()) {
                child.destroyForcibly();
            }
        }
    }

    /**
     * A proxy process with the plugin: {@code Child <config file> <authority host>}; it trusts the test server through
     * {@code javax.net.ssl.trustStore}, prints "ready on port N", and on SIGTERM stops the proxy (which closes the
     * plugin) and exits 0.
     */
    static final class Child {

        private Child() {
        }

        @SuppressWarnings("restriction")
        public static void main(String[] args) throws Exception {
            String yaml = Files.readString(Path.of(args[0]));
            ProxyConfig config = ConfigLoader.parse(yaml);
            LogUsageToLogAnalytics plugin = LogUsageToLogAnalytics.create(
                    new PluginContext(config.plugins().getFirst(), config),
                    new LogUsageToLogAnalytics.AzureAccess(null, null, args[1]));
            ProxyHarness proxy = ProxyHarness.start(yaml, null, List.of(plugin));
            CountDownLatch stop = new CountDownLatch(1);
            sun.misc.Signal.handle(new sun.misc.Signal("TERM"), signal -> stop.countDown());
            System.out.println("ready on port " + proxy.port());
            stop.await();
            proxy.close();
            System.out.println("child stopped");
            System.out.flush();
            System.exit(0);
        }
    }
}
