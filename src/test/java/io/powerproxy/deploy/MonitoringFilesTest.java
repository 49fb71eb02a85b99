package io.powerproxy.deploy;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.json.Json;
import io.powerproxy.metrics.ProxyMetrics;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.pipeline.PluginRegistry;
import io.powerproxy.plugins.LimitUsage;
import io.powerproxy.plugins.LogUsageToCsvFile;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.ClosedPort;
import io.powerproxy.testing.FakeClock;
import io.powerproxy.testing.MetricsScrape;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.WireMockUpstream;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/** The Grafana dashboard and the Prometheus alert rules in deploy/ use only metrics the proxy serves. */
class MonitoringFilesTest {

    private static final Path DASHBOARD = Path.of("deploy/grafana/powerproxy-dashboard.json");
    private static final Path ALERTS = Path.of("deploy/prometheus/alerts.yaml");
    private static final Pattern METRIC = Pattern.compile("\\b((?:powerproxy|jvm|process)_[a-z0-9_]+)\\b");
    private static final String KEY = "team-a-key-0123456789";

    @RegisterExtension
    static final WireMockExtension sweden = WireMockUpstream.extension();
    @RegisterExtension
    static final WireMockExtension eastUs = WireMockUpstream.extension();

    @TempDir
    Path logDir;

    @Test
    void theDashboardIsGrafanaJsonWithThePanelsAPlatformTeamNeeds() throws Exception {
        JsonNode dashboard = Json.MAPPER.readTree(Files.readString(DASHBOARD));

        assertEquals("powerproxy", dashboard.path("uid").asText());
        List<String> titles = new ArrayList<>();
        for (JsonNode panel : dashboard.path("panels")) {
            titles.add(panel.path("title").asText());
            if (!panel.path("type").asText().equals("row")) {
                assertTrue(panel.path("targets").size() > 0, "panel " + panel.path("title") + " has queries");
                assertTrue(panel.path("gridPos").path("w").asInt() > 0, "panel " + panel.path("title") + " has a size");
            }
        }
        for (String wanted : List.of("Requests/s by client and status", "Tokens/min by client and deployment",
                "Upstream latency p50 / p99 by endpoint", "Time to first byte p50 / p99 by endpoint",
                "Open streams and requests in flight", "Blocked targets (seconds left)", "Usage rows/s by sink",
                "Heap", "GC pause time per second", "Threads and CPU")) {
            assertTrue(titles.contains(wanted), "a panel '" + wanted + "' in " + titles);
        }
    }

    @Test
    void theAlertRulesCoverWhatTheIssueAsksFor() throws Exception {
        List<String> alerts = new ArrayList<>();
        for (Map<String, Object> rule : rules()) {
            alerts.add((String) rule.get("alert"));
            assertTrue(rule.get("expr") instanceof String, "rule " + rule.get("alert") + " has an expr");
        }
        assertEquals(List.of("PowerProxyTargetBlockedLong", "PowerProxyUsageRowsLost", "PowerProxyUsageRowsDeadLettered",
                "PowerProxyUsageRowsPiling", "PowerProxyRedisBreakerOpen", "PowerProxyHigh5xxRate",
                "PowerProxyConfigReloadFailed"), alerts);
    }

    @Test
    void everyMetricTheDashboardAndTheAlertsUseIsInARealScrape() throws Exception {
        Set<String> used = new TreeSet<>();
        collect(Files.readString(DASHBOARD), used);
        for (Map<String, Object> rule : rules()) {
            collect((String) rule.get("expr"), used);
        }
        assertTrue(used.size() > 20, "names found: " + used);

        MetricsScrape scrape = scrapeAfterTraffic();

        Set<String> missing = new TreeSet<>(used);
        missing.removeAll(scrape.names());
        assertEquals(Set.of(), missing, "used by deploy/ but not served");
    }

    private static void collect(String text, Set<String> names) {
        Matcher matcher = METRIC.matcher(text);
        while (matcher.find()) {
            names.add(matcher.group(1));
        }
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> rules() throws Exception {
        Map<String, Object> file = new Yaml(new SafeConstructor(new LoaderOptions())).load(Files.readString(ALERTS));
        List<Map<String, Object>> rules = new ArrayList<>();
        for (Map<String, Object> group : (List<Map<String, Object>>) file.get("groups")) {
            rules.addAll((List<Map<String, Object>>) group.get("rules"));
        }
        return rules;
    }

    /** A proxy with LimitUsage on a Redis that is not there and a CSV sink, after an answer, a failover and a 429. */
    private MetricsScrape scrapeAfterTraffic() throws Exception {
        sweden.stubFor(post(urlPathEqualTo("/openai/deployments/gpt-4o/chat/completions"))
                .willReturn(aResponse().withStatus(429).withHeader("retry-after-ms", "60000")));
        eastUs.stubFor(post(urlPathEqualTo("/openai/deployments/gpt-4o/chat/completions")).willReturn(okJson(
                "{\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}")));
        try (ClosedPort redis = ClosedPort.hold()) {
            ProxyConfig config = ConfigLoader.parse("""
                    clients:
                      - name: Team A
                        key: %s
                        max_tokens_per_minute_in_k: 1000
                      - name: Team Z
                        key: team-z-key-0123456789
                        max_tokens_per_minute_in_k: 0
                    plugins:
                      - name: LimitUsage
                        redis:
                          redis_host: 127.0.0.1
                          redis_port: %d
                          redis_password: not-needed
                          redis_ssl: false
                      - name: LogUsageToCsvFile
                        log_dir: %s
                    aoai:
                      endpoints:
                        - name: Sweden
                          url: %s
                          key: sweden-key
                        - name: EastUS
                          url: %s
                          key: eastus-key
                    """.formatted(KEY, redis.port(), logDir, sweden.baseUrl(), eastUs.baseUrl()));
            ProxyMetrics metrics = ProxyMetrics.create(config, true);
            Pipeline pipeline = PluginRegistry.create(List.of(LimitUsage.factory(), LogUsageToCsvFile.factory()),
                    getClass().getClassLoader()).createPipeline(config, metrics);
            try (ProxyHarness proxy = ProxyHarness.start(config, pipeline, metrics, new FakeClock())) {
                HttpResponse<String> answer = proxy.postJson("/openai/deployments/gpt-4o/chat/completions"
                        + "?api-version=2024-10-21", KEY, "{\"messages\":[]}");
                assertEquals(200, answer.statusCode(), answer.body());
                assertEquals(429, proxy.postJson("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
                        "team-z-key-0123456789", "{\"messages\":[]}").statusCode());
                MetricsScrape[] scrape = new MetricsScrape[1];
                // A request is counted just after its answer went out.
                Await.until("both requests counted", () -> {
                    HttpResponse<String> response = proxy.send(proxy.request("/powerproxy/metrics")
                            .header("api-key", KEY).GET().build());
                    assertEquals(200, response.statusCode());
                    scrape[0] = MetricsScrape.parse(response.body());
                    return scrape[0].all("powerproxy_requests_total").stream().mapToDouble(MetricsScrape.Series::value)
                            .sum() == 2;
                });
                return scrape[0];
            }
        }
    }
}
