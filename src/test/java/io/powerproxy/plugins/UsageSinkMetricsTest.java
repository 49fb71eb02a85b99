package io.powerproxy.plugins;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.containing;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.BODY;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.CHAT;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.TEAM_A_KEY;
import static io.powerproxy.plugins.LogUsageToLogAnalyticsTest.TEAM_B_KEY;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.metrics.ProxyMetrics;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.ClosedPort;
import io.powerproxy.testing.HttpsWireMock;
import io.powerproxy.testing.MetricsScrape;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.TestUsageRecord;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The usage sinks and LimitUsage report their figures to the metrics through {@link PluginContext#metrics()}. */
class UsageSinkMetricsTest {

    private static HttpsWireMock azure;

    @TempDir
    Path dir;

    @BeforeAll
    static void startAzure() {
        azure = HttpsWireMock.start();
    }

    @AfterAll
    static void stopAzure() {
        azure.close();
    }

    @BeforeEach
    void stubAzure() {
        LogUsageToLogAnalyticsTest.stubTokenAndIngestion(azure);
    }

    private static MetricsScrape scrape(ProxyMetrics metrics) throws Exception {
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        metrics.scrape(metrics.writerFor(null), text);
        return MetricsScrape.parse(text.toString(StandardCharsets.UTF_8));
    }

    private static double rows(ProxyMetrics metrics, String what) throws Exception {
        return scrape(metrics).value("powerproxy_usage_rows_" + what, "sink", "LogUsageToLogAnalytics");
    }

    @Test
    void logAnalyticsCountsRowsQueuedWrittenDeadLetteredAndSpooled() throws Exception {
        String yaml = LogUsageToLogAnalyticsTest.config(azure, dir, "extended_columns: true\nbatch_max_seconds: 0.05");
        azure.server().stubFor(post(urlPathMatching("/dataCollectionRules/.*")).atPriority(1)
                .withRequestBody(containing("\"Client\":\"Team B\""))
                .willReturn(aResponse().withStatus(400).withBody("{\"error\":{\"code\":\"InvalidContent\"}}")));
        ProxyConfig config = ConfigLoader.parse(yaml);
        ProxyMetrics metrics = ProxyMetrics.create(config, true);
        LogUsageToLogAnalytics plugin = LogUsageToLogAnalytics.create(
                new PluginContext(config.plugins().getFirst(), config, metrics),
                new LogUsageToLogAnalytics.AzureAccess(azure.azureHttpClient(), null, azure.baseUrl()));
        try (ProxyHarness proxy = ProxyHarness.start(yaml, null, List.of(plugin))) {
            for (int i = 0; i < 3; i++) {
                assertEquals(200, proxy.postJson(CHAT, TEAM_A_KEY, BODY).statusCode());
                int delivered = i + 1;
                Await.until("row " + delivered + " is delivered", () -> rows(metrics, "written_total") == delivered);
            }
            assertEquals(200, proxy.postJson(CHAT, TEAM_B_KEY, BODY).statusCode());
            Await.until("Team B's row is dead-lettered", () -> rows(metrics, "dead_lettered_total") == 1);

            MetricsScrape m = scrape(metrics);
            assertEquals(4, m.value("powerproxy_usage_rows_queued_total", "sink", "LogUsageToLogAnalytics"));
            assertEquals(3, m.value("powerproxy_usage_rows_written_total", "sink", "LogUsageToLogAnalytics"));
            assertEquals(0, m.value("powerproxy_usage_rows_lost_total", "sink", "LogUsageToLogAnalytics"));
            assertEquals(0, m.value("powerproxy_usage_rows_spooled", "sink", "LogUsageToLogAnalytics"));

            // Log Analytics goes down: the rows wait in the spool, and the gauge says how many.
            azure.server().stubFor(post(urlPathMatching("/dataCollectionRules/.*")).atPriority(0)
                    .willReturn(aResponse().withStatus(503)));
            assertEquals(200, proxy.postJson(CHAT, TEAM_A_KEY, BODY).statusCode());
            assertEquals(200, proxy.postJson(CHAT, TEAM_A_KEY, BODY).statusCode());
            Await.until("two rows wait in the spool", () -> rows(metrics, "spooled") == 2);
            assertEquals(3, rows(metrics, "written_total"));
        } finally {
            plugin.close();
        }
    }

    @Test
    void aCsvRowThatCannotBeWrittenCountsAsLost() throws Exception {
        Path logDir = Files.createDirectory(dir.resolve("csv"));
        ProxyConfig config = ConfigLoader.parse(io.powerproxy.testing.Configs.pluginsOnMock(
                "- name: LogUsageToCsvFile\n  log_dir: '" + logDir + "'", 0));
        ProxyMetrics metrics = ProxyMetrics.create(config, true);
        LogUsageToCsvFile sink = (LogUsageToCsvFile) LogUsageToCsvFile.factory()
                .create(new PluginContext(config.plugins().getFirst(), config, metrics));
        try {
            sink.onUsage(null, TestUsageRecord.of("r1").received(java.time.Instant.parse("2029-12-31T10:00:00Z")).build());
            // A directory where the next day's file would be: that row cannot be appended.
            Files.createDirectory(logDir.resolve("20300101.logs.csv"));
            sink.onUsage(null, TestUsageRecord.of("r2").received(java.time.Instant.parse("2030-01-01T10:00:00Z"))
                    .build());
        } finally {
            sink.close();
        }

        MetricsScrape m = scrape(metrics);
        assertEquals(1, m.value("powerproxy_usage_rows_written_total", "sink", "LogUsageToCsvFile"));
        assertEquals(1, m.value("powerproxy_usage_rows_lost_total", "sink", "LogUsageToCsvFile"));
        assertEquals(0, m.value("powerproxy_usage_rows_spooled", "sink", "LogUsageToCsvFile"));
    }

    @Test
    void limitUsageShowsItsRedisBreakerOpenWhileRedisCannotBeReached() throws Exception {
        try (ClosedPort redis = ClosedPort.hold()) {
            ProxyConfig config = ConfigLoader.parse("""
                    clients:
                      - name: Team A
                        key: team-a-key-0123456789
                        max_tokens_per_minute_in_k: 1
                    plugins:
                      - name: LimitUsage
                        redis:
                          redis_host: 127.0.0.1
                          redis_port: %d
                          redis_password: not-needed
                          redis_ssl: false
                    aoai:
                      endpoints:
                        - name: Sweden
                          url: https://sweden.example.net
                          key: sweden-key
                    """.formatted(redis.port()));
            ProxyMetrics metrics = ProxyMetrics.create(config, true);
            LimitUsage plugin = (LimitUsage) LimitUsage.factory()
                    .create(new PluginContext(config.plugins().getFirst(), config, metrics));
            try {
                // Its start-up check fails as often as it takes to open the breaker.
                Await.until("the breaker is open", () -> scrape(metrics).value("powerproxy_redis_breaker_open") == 1);
            } finally {
                plugin.close();
            }
        }
    }

    @Test
    void limitUsageWithoutRedisHasNoBreakerToShow() throws Exception {
        ProxyConfig config = ConfigLoader.parse(io.powerproxy.testing.Configs.pluginsOnMock("- name: LimitUsage", 0)
                .replace("    key: team-b-key-9876543210\n", "    key: team-b-key-9876543210\n"
                        + "    max_tokens_per_minute_in_k: 1\n")
                .replace("    key: team-a-key-0123456789\n", "    key: team-a-key-0123456789\n"
                        + "    max_tokens_per_minute_in_k: 1\n"));
        ProxyMetrics metrics = ProxyMetrics.create(config, true);
        LimitUsage.factory().create(new PluginContext(config.plugins().getFirst(), config, metrics)).close();

        assertEquals(List.of(), scrape(metrics).all("powerproxy_redis_breaker_open"));
    }
}
