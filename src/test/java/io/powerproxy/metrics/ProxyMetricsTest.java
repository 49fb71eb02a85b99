package io.powerproxy.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.testing.MetricsScrape;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The metrics object on its own: label values from the config, swapped by a reload, and the reload counters. */
class ProxyMetricsTest {

    private static ProxyConfig config(String clientName, String deployment) throws Exception {
        return ConfigLoader.parse("""
                clients:
                  - name: %s
                    key: key-of-the-only-client-0123
                    deployments_allowed: [%s]
                aoai:
                  endpoints:
                    - name: Sweden
                      url: https://sweden.example.net
                      key: sweden-key
                      virtual_deployments:
                        - name: gpt-4o
                          standins:
                            - name: gpt-4o-ptu
                """.formatted(clientName, deployment));
    }

    private static MetricsScrape scrape(ProxyMetrics metrics) throws Exception {
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        metrics.scrape(metrics.writerFor(null), text);
        return MetricsScrape.parse(text.toString(StandardCharsets.UTF_8));
    }

    @Test
    void deploymentsAreThoseTheConfigNamesAnywhere() throws Exception {
        LabelValues names = ProxyMetrics.create(config("Team A", "embeddings"), true).labelValues();

        assertEquals("gpt-4o", names.deploymentName(names.deployment("gpt-4o")), "virtual deployments");
        assertEquals("gpt-4o-ptu", names.deploymentName(names.deployment("gpt-4o-ptu")), "their stand-ins");
        assertEquals("embeddings", names.deploymentName(names.deployment("embeddings")), "deployments_allowed");
        assertEquals("other", names.deploymentName(names.deployment("gpt-5")));
        assertEquals("none", names.deploymentName(names.deployment(null)));
        assertEquals(5, names.deploymentCount());
    }

    @Test
    void aReloadedConfigBringsItsOwnNamesAndEarlierSeriesKeepTheirCounts() throws Exception {
        ProxyMetrics metrics = ProxyMetrics.create(config("Team A", "embeddings"), true);
        metrics.requestEnded("Team A", "embeddings", "Sweden", 200, null);
        metrics.requestEnded("Team B", "embeddings", "Sweden", 200, null);

        metrics.configApplied(config("Team B", "whisper"));
        metrics.requestEnded("Team A", "whisper", "Sweden", 200, null);
        metrics.requestEnded("Team B", "whisper", "Sweden", 200, null);

        MetricsScrape m = scrape(metrics);
        String requests = "powerproxy_requests_total";
        assertEquals(1, m.value(requests, "client", "Team A", "deployment", "embeddings", "endpoint", "Sweden", "status", "200"));
        assertEquals(1, m.value(requests, "client", "other", "deployment", "embeddings", "endpoint", "Sweden", "status", "200"));
        assertEquals(1, m.value(requests, "client", "other", "deployment", "whisper", "endpoint", "Sweden", "status", "200"));
        assertEquals(1, m.value(requests, "client", "Team B", "deployment", "whisper", "endpoint", "Sweden", "status", "200"));
    }

    @Test
    void reloadsAreCountedByResultAndTheGaugeTellsWhetherTheLastOneWasApplied() throws Exception {
        ProxyMetrics metrics = ProxyMetrics.create(config("Team A", "embeddings"), true);
        assertEquals(1, scrape(metrics).value("powerproxy_config_last_reload_success"), "no reload tried yet");

        metrics.reloadApplied();
        metrics.reloadRejected();
        MetricsScrape afterRejection = scrape(metrics);
        assertEquals(1, afterRejection.value("powerproxy_config_reloads_total", "result", "applied"));
        assertEquals(1, afterRejection.value("powerproxy_config_reloads_total", "result", "rejected"));
        assertEquals(0, afterRejection.value("powerproxy_config_last_reload_success"));

        metrics.reloadApplied();
        assertEquals(1, scrape(metrics).value("powerproxy_config_last_reload_success"));
        assertEquals(2, scrape(metrics).value("powerproxy_config_reloads_total", "result", "applied"));
    }

    @Test
    void statusesOutsideHttpsRangeShareOneSeries() throws Exception {
        ProxyMetrics metrics = ProxyMetrics.create(config("Team A", "embeddings"), true);
        metrics.requestEnded("Team A", null, null, 700, null);
        metrics.requestEnded("Team A", null, null, -1, null);

        assertEquals(2, scrape(metrics).value("powerproxy_requests_total", "client", "Team A", "deployment", "none",
                "endpoint", "none", "status", "0"));
    }

    @Test
    void theScrapeNeedsAClientKeyUnlessTheEnvironmentSaysNone() {
        assertTrue(ProxyMetrics.scrapeNeedsClientKey(Map.of()));
        assertTrue(ProxyMetrics.scrapeNeedsClientKey(Map.of(ProxyMetrics.AUTH_ENV, "client-key")));
        assertFalse(ProxyMetrics.scrapeNeedsClientKey(Map.of(ProxyMetrics.AUTH_ENV, " none ")));

        IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class,
                () -> ProxyMetrics.scrapeNeedsClientKey(Map.of(ProxyMetrics.AUTH_ENV, "off")));
        assertTrue(wrong.getMessage().contains("POWERPROXY_METRICS_AUTH must be 'client-key'")
                && wrong.getMessage().contains("not 'off'"), wrong.getMessage());
    }

    @Test
    void aPluginGaugeWithANameThatIsTakenOrInvalidIsRefused() throws Exception {
        ProxyMetrics metrics = ProxyMetrics.create(config("Team A", "embeddings"), true);

        assertThrows(IllegalArgumentException.class, () -> metrics.gauge("powerproxy_open_streams", "again", () -> 1));
        assertThrows(IllegalArgumentException.class, () -> metrics.gauge("not a name", "bad", () -> 1));
        metrics.gauge("powerproxy_plugin_queue_rows", "rows in a plugin's queue", () -> 7);
        assertEquals(7, scrape(metrics).value("powerproxy_plugin_queue_rows"));
    }
}
