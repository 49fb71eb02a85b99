package io.powerproxy.plugins;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.testing.Await;
import io.powerproxy.testing.ChildLoad;
import io.powerproxy.testing.ChildProxy;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.HttpsWireMock;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A proxy process killed with SIGKILL under load has, in its usage sinks, a row of every request whose answer a client
 * received completely: in the CSV file, or in the Log Analytics journal that the next start uploads.
 */
class UsageAfterKillTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String BODY = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}";
    private static final String REQUEST_ID = "x-powerproxy-request-id";
    /** The kill comes once this many requests were answered, so that it lands in the middle of the load. */
    private static final int ANSWERED_BEFORE_KILL = 300;
    private static final Pattern READY = Pattern.compile("ready on port (\\d+)");

    @TempDir
    Path dir;

    @Test
    void aKillUnderLoadLeavesACsvRowForEveryAnsweredRequest() throws Exception {
        Path logDir = dir.resolve("logs");
        Path configFile = Files.writeString(dir.resolve("config.yaml"), Configs.pluginsOnMock("""
                - name: LogUsageToCsvFile
                  log_dir: '%s'
                """.formatted(logDir), 0));
        Set<String> answered;
        try (ChildProxy proxy = ChildProxy.start(configFile, List.of())) {
            answered = loadAndKill(proxy, proxy.port(), Configs.TEAM_A_KEY);
        }

        Set<String> rows = new HashSet<>();
        try (Stream<Path> files = Files.list(logDir)) {
            for (Path csv : files.filter(f -> f.toString().endsWith(".logs.csv")).toList()) {
                rows.addAll(LogUsageToCsvFileTest.requestIds(csv));
            }
        }
        List<String> missing = answered.stream().filter(id -> !rows.contains(id)).sorted().toList();
        assertTrue(missing.isEmpty(), missing.size() + " of " + answered.size() + " answered requests have no row, e.g. "
                + missing.subList(0, Math.min(5, missing.size())));
    }

    @Test
    void aKillUnderLoadLeavesEveryAnsweredRequestsRowToLogAnalyticsWhichTheNextStartUploads() throws Exception {
        try (HttpsWireMock azure = HttpsWireMock.start()) {
            LogUsageToLogAnalyticsTest.stubTokenAndIngestion(azure);
            String yaml = LogUsageToLogAnalyticsTest.config(azure, dir.resolve("logs"), "extended_columns: true");
            Path configFile = Files.writeString(dir.resolve("config.yaml"), yaml);
            Set<String> answered;
            try (ChildProxy proxy = ChildProxy.run(LogAnalyticsChild.class.getName(), List.of(
                            "-Djavax.net.ssl.trustStore=" + azure.trustStore(),
                            "-Djavax.net.ssl.trustStorePassword=" + HttpsWireMock.STORE_PASSWORD,
                            "-Djavax.net.ssl.trustStoreType=PKCS12"),
                    Map.of(), List.of(configFile.toString(), azure.baseUrl()))) {
                int port = Integer.parseInt(proxy.awaitLine(READY).group(1));
                answered = loadAndKill(proxy, port, LogUsageToLogAnalyticsTest.TEAM_A_KEY);
            }

            // The next start on the same log_dir uploads what the killed one had not.
            try (LogUsageToLogAnalytics next = LogUsageToLogAnalyticsTest.plugin(azure, yaml)) {
                Await.until("every answered request's row is uploaded",
                        () -> LogUsageToLogAnalyticsTest.deliveredIds(azure).containsAll(answered));
                Await.until("ready", () -> next.readinessProblem() == null);
            } catch (AssertionError notAll) {
                Set<String> delivered = new HashSet<>(LogUsageToLogAnalyticsTest.deliveredIds(azure));
                List<String> missing = answered.stream().filter(id -> !delivered.contains(id)).sorted().toList();
                throw new AssertionError(missing.size() + " of " + answered.size() + " answered requests have no row"
                        + " in Log Analytics, e.g. " + missing.subList(0, Math.min(5, missing.size())), notAll);
            }
        }
    }

    /**
     * Sends requests from 16 client threads until {@link #ANSWERED_BEFORE_KILL} were answered, kills the proxy with
     * SIGKILL while the load goes on, and returns the request ids of every answer received completely.
     */
    private static Set<String> loadAndKill(ChildProxy proxy, int port, String key) throws Exception {
        ChildLoad load = ChildLoad.start(proxy, URI.create("http://127.0.0.1:" + port + CHAT), key, BODY, 16);
        try (load) {
            load.awaitAnswered(ANSWERED_BEFORE_KILL);
            // SIGKILL: Process.destroyForcibly on Linux.
            proxy.close();
            Await.until("the proxy is gone after SIGKILL", () -> !proxy.isAlive());
        }
        Set<String> answered = load.answered();
        assertTrue(answered.size() >= ANSWERED_BEFORE_KILL, "answered " + answered.size());
        return answered;
    }

    /**
     * The proxy with LogUsageToLogAnalytics in a child JVM, its ingestion endpoint (args[1]) reached with the test's
     * login stand-in, which the real main cannot use without asking Microsoft's login servers first. A SIGKILL ends it.
     */
    static final class LogAnalyticsChild {

        private LogAnalyticsChild() {
        }

        public static void main(String[] args) throws Exception {
            String yaml = java.nio.file.Files.readString(Path.of(args[0]));
            io.powerproxy.config.ProxyConfig config = io.powerproxy.config.ConfigLoader.parse(yaml);
            LogUsageToLogAnalytics plugin = LogUsageToLogAnalytics.create(
                    new io.powerproxy.pipeline.PluginContext(config.plugins().getFirst(), config),
                    new LogUsageToLogAnalytics.AzureAccess(null, null, args[1]));
            io.powerproxy.testing.ProxyHarness proxy = io.powerproxy.testing.ProxyHarness.start(yaml, null, List.of(plugin));
            System.out.println("ready on port " + proxy.port());
            new CountDownLatch(1).await();
        }
    }
}
