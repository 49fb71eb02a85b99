package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.json.Json;
import io.powerproxy.metrics.ProxyMetrics;
import io.powerproxy.pipeline.Pipeline;
import io.powerproxy.pipeline.PluginRegistry;
import io.powerproxy.plugins.LimitUsage;
import io.powerproxy.plugins.LogUsageToCsvFile;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.FakeClock;
import io.powerproxy.testing.MetricsScrape;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.ScriptedSseUpstream;
import io.powerproxy.testing.WireMockUpstream;
import java.io.InputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** {@code GET /powerproxy/metrics} counts exactly the traffic the proxy served, under bounded label values. */
class MetricsEndpointTest {

    static final String TEAM_A_KEY = "team-a-key-0123456789";
    static final String TEAM_B_KEY = "team-b-key-9876543210";
    static final String TEAM_C_KEY = "team-c-key-5555555555";
    private static final String ANSWER = """
            {"id":"1","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant",\
            "content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,\
            "total_tokens":%d}}""";
    private static final String STREAM = """
            data: {"id":"1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hello there, how are you today?"}}]}

            data: {"id":"1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

            data: [DONE]

            """;

    @RegisterExtension
    static final WireMockExtension sweden = WireMockUpstream.extension();
    @RegisterExtension
    static final WireMockExtension eastUs = WireMockUpstream.extension();

    @TempDir
    Path logDir;

    private final FakeClock clock = new FakeClock();
    private ProxyHarness proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    private String yaml(String swedenUrl, String eastUsUrl) {
        return """
                clients:
                  - name: Team A
                    key: %s
                    max_tokens_per_minute_in_k:
                      gpt-4o: 1000
                  - name: Team B
                    key: %s
                    max_tokens_per_minute_in_k:
                      gpt-4o: 1000
                      gpt-35-turbo: 1000
                  - name: Team C
                    key: %s
                    max_tokens_per_minute_in_k:
                      gpt-4o: 0
                plugins:
                  - name: LimitUsage
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
                """.formatted(TEAM_A_KEY, TEAM_B_KEY, TEAM_C_KEY, logDir, swedenUrl, eastUsUrl);
    }

    /** Starts the proxy as the command line does: one metrics object that the plugins report to as well. */
    private ProxyMetrics start(String yaml, boolean scrapeNeedsKey) throws Exception {
        ProxyConfig config = ConfigLoader.parse(yaml);
        ProxyMetrics metrics = ProxyMetrics.create(config, scrapeNeedsKey);
        Pipeline pipeline = PluginRegistry.create(List.of(LimitUsage.factory(), LogUsageToCsvFile.factory()),
                getClass().getClassLoader()).createPipeline(config, metrics);
        proxy = ProxyHarness.start(config, pipeline, metrics, clock);
        return metrics;
    }

    private HttpResponse<String> chat(String key, String deployment) {
        return proxy.postJson("/openai/deployments/" + deployment + "/chat/completions?api-version=2024-10-21", key,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    }

    private HttpResponse<String> scrape(String accept) {
        HttpRequest.Builder request = proxy.request("/powerproxy/metrics").header("api-key", TEAM_A_KEY).GET();
        if (accept != null) {
            request.header("Accept", accept);
        }
        return proxy.send(request.build());
    }

    private MetricsScrape scrape() {
        HttpResponse<String> response = scrape(null);
        assertEquals(200, response.statusCode(), response.body());
        return MetricsScrape.parse(response.body());
    }

    private static double requestsCounted(MetricsScrape scrape) {
        return scrape.all("powerproxy_requests_total").stream().mapToDouble(MetricsScrape.Series::value).sum();
    }

    private static void answer(WireMockExtension upstream, String deployment, int prompt, int completion) {
        upstream.stubFor(post(urlPathEqualTo("/openai/deployments/" + deployment + "/chat/completions"))
                .willReturn(okJson(ANSWER.formatted(prompt, completion, prompt + completion))));
    }

    @Test
    void aScrapeAfterKnownTrafficFindsTheExactCounts() throws Exception {
        answer(sweden, "gpt-4o", 10, 5);
        answer(sweden, "mystery-model", 7, 3);
        sweden.stubFor(post(urlPathEqualTo("/openai/deployments/gpt-35-turbo/chat/completions"))
                .willReturn(aResponse().withStatus(429).withHeader("retry-after-ms", "60000")
                        .withHeader("Content-Type", "application/json").withBody("{\"error\":{\"code\":\"429\"}}")));
        answer(eastUs, "gpt-35-turbo", 4, 2);
        start(yaml(sweden.baseUrl(), eastUs.baseUrl()), true);

        assertEquals(200, chat(TEAM_A_KEY, "gpt-4o").statusCode());
        assertEquals(200, chat(TEAM_A_KEY, "gpt-4o").statusCode());
        assertEquals(200, chat(TEAM_B_KEY, "mystery-model").statusCode());
        assertEquals(200, chat(TEAM_B_KEY, "gpt-35-turbo").statusCode(), "served by EastUS after Sweden's 429");
        assertEquals(429, chat(TEAM_C_KEY, "gpt-4o").statusCode(), "LimitUsage: Team C has a budget of 0");
        assertEquals(401, chat("not-a-key", "gpt-4o").statusCode());
        sweden.stubFor(post(urlPathEqualTo("/openai/deployments/gpt-4o/chat/completions"))
                .withRequestBody(com.github.tomakehurst.wiremock.client.WireMock.containing("\"stream\":true"))
                .willReturn(aResponse().withStatus(200).withHeader("Content-Type", "text/event-stream")
                        .withBody(STREAM)));
        HttpResponse<String> streamed = proxy.postJson("/openai/deployments/gpt-4o/chat/completions"
                + "?api-version=2024-06-01", TEAM_A_KEY, "{\"stream\":true,\"model\":\"gpt-4o\",\"messages\":"
                + "[{\"role\":\"user\",\"content\":\"Say hello to everyone in the room\"}]}");
        assertEquals(200, streamed.statusCode());
        assertTrue(streamed.body().contains("Hello there"), streamed.body());

        // A request is counted after its answer went out: wait for the last one.
        MetricsScrape[] last = new MetricsScrape[1];
        Await.until("all 7 requests counted", () -> last[0] == null ? "-" : requestsCounted(last[0]),
                () -> requestsCounted(last[0] = scrape()) == 7);
        MetricsScrape m = last[0];

        String requests = "powerproxy_requests_total";
        assertEquals(3, m.value(requests, "client", "Team A", "deployment", "gpt-4o", "endpoint", "Sweden", "status", "200"));
        assertEquals(1, m.value(requests, "client", "Team B", "deployment", "other", "endpoint", "Sweden", "status", "200"));
        assertEquals(1, m.value(requests, "client", "Team B", "deployment", "gpt-35-turbo", "endpoint", "EastUS",
                "status", "200"));
        assertEquals(1, m.value(requests, "client", "Team C", "deployment", "gpt-4o", "endpoint", "none", "status", "429"));
        assertEquals(1, m.value(requests, "client", "none", "deployment", "none", "endpoint", "none", "status", "401"));

        String tokens = "powerproxy_tokens_total";
        assertEquals(20, m.value(tokens, "client", "Team A", "deployment", "gpt-4o", "type", "prompt", "source", "reported"));
        assertEquals(10, m.value(tokens, "client", "Team A", "deployment", "gpt-4o", "type", "completion", "source",
                "reported"));
        assertEquals(7, m.value(tokens, "client", "Team B", "deployment", "other", "type", "prompt", "source", "reported"));
        assertEquals(3, m.value(tokens, "client", "Team B", "deployment", "other", "type", "completion", "source",
                "reported"));
        assertEquals(4, m.value(tokens, "client", "Team B", "deployment", "gpt-35-turbo", "type", "prompt", "source",
                "reported"));
        assertEquals(2, m.value(tokens, "client", "Team B", "deployment", "gpt-35-turbo", "type", "completion",
                "source", "reported"));
        // The stream had no usage chunk: its counts are the proxy's estimate, exactly those of its usage record.
        List<String> streamRow = csvRows().stream().filter(row -> row.contains(",True,") || row.contains(",true,"))
                .toList();
        assertEquals(1, streamRow.size(), csvRows().toString());
        String[] columns = streamRow.getFirst().split(",");
        double estimatedPrompt = Double.parseDouble(columns[3]);
        double estimatedCompletion = Double.parseDouble(columns[4]);
        assertTrue(estimatedPrompt > 0 && estimatedCompletion > 0, streamRow.getFirst());
        assertEquals(estimatedPrompt, m.value(tokens, "client", "Team A", "deployment", "gpt-4o", "type", "prompt",
                "source", "estimated"));
        assertEquals(estimatedCompletion, m.value(tokens, "client", "Team A", "deployment", "gpt-4o", "type",
                "completion", "source", "estimated"));

        assertEquals(1, m.value("powerproxy_plugin_rejections_total", "plugin", "LimitUsage", "client", "Team C",
                "status", "429"));
        assertEquals(1, m.value("powerproxy_failovers_total", "target", "Sweden", "reason", "429"));
        assertEquals(1, m.value("powerproxy_target_blocks_total", "target", "Sweden", "reason", "429"));
        assertEquals(60, m.value("powerproxy_target_blocked_seconds", "target", "Sweden"));
        assertEquals(0, m.value("powerproxy_target_blocked_seconds", "target", "EastUS"));
        assertEquals(4, m.value("powerproxy_upstream_duration_seconds_count", "endpoint", "Sweden"));
        assertEquals(1, m.value("powerproxy_upstream_duration_seconds_count", "endpoint", "EastUS"));
        assertEquals(4, m.value("powerproxy_upstream_first_byte_seconds_count", "endpoint", "Sweden"));
        assertEquals(0, m.value("powerproxy_open_streams"));
        assertEquals(5, m.value("powerproxy_usage_rows_written_total", "sink", "LogUsageToCsvFile"));
        assertEquals(0, m.value("powerproxy_usage_rows_lost_total", "sink", "LogUsageToCsvFile"));
        assertEquals(0, m.value("powerproxy_request_body_memory_bytes"));
        assertEquals(0, m.value("powerproxy_config_reloads_total", "result", "rejected"));
        assertEquals(1, m.value("powerproxy_config_last_reload_success"));
        assertTrue(m.value("jvm_threads_current") > 0, "JVM metrics are there");
    }

    private List<String> csvRows() throws Exception {
        try (Stream<Path> files = Files.list(logDir)) {
            Path file = files.filter(f -> f.toString().endsWith(".logs.csv")).findFirst().orElseThrow();
            return Files.readAllLines(file).stream().skip(1).toList();
        }
    }

    @Test
    void clientsAndDeploymentsTheConfigDoesNotNameFoldIntoOneValue() throws Exception {
        sweden.stubFor(post(anyUrl()).willReturn(okJson(ANSWER.formatted(1, 1, 2))));
        start(yaml(sweden.baseUrl(), eastUs.baseUrl()), true);

        for (int i = 0; i < 40; i++) {
            assertEquals(200, chat(TEAM_A_KEY, "made-up-" + i).statusCode());
            assertEquals(401, chat("made-up-key-" + i, "made-up-" + i).statusCode());
        }

        MetricsScrape[] last = new MetricsScrape[1];
        Await.until("all 80 requests counted", () -> last[0] == null ? "-" : requestsCounted(last[0]),
                () -> requestsCounted(last[0] = scrape()) == 80);
        MetricsScrape m = last[0];
        assertEquals(2, m.all("powerproxy_requests_total").size(), m.all("powerproxy_requests_total").toString());
        assertEquals(40, m.value("powerproxy_requests_total", "client", "Team A", "deployment", "other", "endpoint",
                "Sweden", "status", "200"));
        assertEquals(40, m.value("powerproxy_requests_total", "client", "none", "deployment", "none", "endpoint",
                "none", "status", "401"));
        assertEquals(2, m.all("powerproxy_tokens_total").stream().filter(s -> s.value() > 0).count());
        assertTrue(m.all("powerproxy_tokens_total").stream().allMatch(s -> s.labels().get("deployment").equals("other")));
    }

    @Test
    void theAcceptHeaderChoosesOpenMetricsOrThePrometheusTextFormat() throws Exception {
        start(yaml(sweden.baseUrl(), eastUs.baseUrl()), true);

        HttpResponse<String> plain = scrape(null);
        assertEquals("text/plain; version=0.0.4; charset=utf-8", plain.headers().firstValue("Content-Type").orElse(""));
        assertTrue(plain.body().contains("# TYPE powerproxy_config_reloads_total counter"), plain.body());

        HttpResponse<String> open = scrape("application/openmetrics-text; version=1.0.0; charset=utf-8");
        assertEquals("application/openmetrics-text; version=1.0.0; charset=utf-8",
                open.headers().firstValue("Content-Type").orElse(""));
        assertTrue(open.body().contains("# TYPE powerproxy_config_reloads counter"), open.body());
        assertTrue(open.body().endsWith("# EOF\n"), "OpenMetrics ends with # EOF");

        // What Prometheus sends when it would take protobuf: the proxy has no protobuf writer, so text it is.
        HttpResponse<String> protobuf = scrape("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
                + "encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.1");
        assertEquals(200, protobuf.statusCode());
        assertEquals("text/plain; version=0.0.4; charset=utf-8", protobuf.headers().firstValue("Content-Type").orElse(""));
    }

    @Test
    void theMetricsNeedAClientKeyByDefault() throws Exception {
        start(yaml(sweden.baseUrl(), eastUs.baseUrl()), true);

        HttpResponse<String> none = proxy.send(proxy.request("/powerproxy/metrics").GET().build());
        HttpResponse<String> wrong = proxy.send(proxy.request("/powerproxy/metrics").header("api-key", "nope").GET().build());
        HttpResponse<String> bearer = proxy.send(proxy.request("/powerproxy/metrics")
                .header("Authorization", "Bearer " + TEAM_B_KEY).GET().build());

        for (HttpResponse<String> refused : List.of(none, wrong)) {
            assertEquals(401, refused.statusCode());
            JsonNode error = Json.MAPPER.readTree(refused.body()).path("error");
            assertEquals("Unauthorized", error.path("code").asText(), refused.body());
            assertTrue(error.path("message").asText().contains("POWERPROXY_METRICS_AUTH=none"), refused.body());
        }
        assertEquals(200, bearer.statusCode());
        assertTrue(bearer.body().contains("powerproxy_open_streams 0"), bearer.body());
    }

    @Test
    void anEntraIdTokenDoesNotOpenTheMetrics() throws Exception {
        start(yaml(sweden.baseUrl(), eastUs.baseUrl()).replace("  - name: Team C\n", "  - name: Entra users\n"
                + "    uses_entra_id_auth: true\n    max_tokens_per_minute_in_k: 1\n  - name: Team C\n"), true);

        HttpResponse<String> token = proxy.send(proxy.request("/powerproxy/metrics")
                .header("Authorization", "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.any.token").GET().build());

        assertEquals(401, token.statusCode());
        assertTrue(token.body().contains("an Entra ID token is not one"), token.body());
    }

    @Test
    void withMetricsAuthNoneAnyoneWhoReachesThePortMayScrape() throws Exception {
        start(yaml(sweden.baseUrl(), eastUs.baseUrl()), false);

        HttpResponse<String> open = proxy.send(proxy.request("/powerproxy/metrics").GET().build());

        assertEquals(200, open.statusCode());
        assertTrue(open.body().contains("powerproxy_open_streams 0"), open.body());
    }

    @Test
    void headGetsTheHeadersOfAScrapeWithoutItsBody() throws Exception {
        start(yaml(sweden.baseUrl(), eastUs.baseUrl()), false);

        HttpResponse<String> head = proxy.send(proxy.request("/powerproxy/metrics")
                .method("HEAD", HttpRequest.BodyPublishers.noBody()).build());

        assertEquals(200, head.statusCode());
        assertEquals("text/plain; version=0.0.4; charset=utf-8", head.headers().firstValue("Content-Type").orElse(""));
        assertEquals("", head.body());
    }

    @Test
    void aStreamIsCountedAsOpenWhileItIsPassedOn() throws Exception {
        String chunk = "data: {\"id\":\"1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o\",\"choices\":"
                + "[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n";
        try (ScriptedSseUpstream upstream = ScriptedSseUpstream.startHeldAfterFirst(List.of(chunk, "data: [DONE]\n\n"))) {
            start(yaml(upstream.baseUrl(), eastUs.baseUrl()), true);
            HttpResponse<InputStream> stream = proxy.sendForStream(proxy.request(
                            "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21")
                    .header("api-key", TEAM_A_KEY).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"stream\":true,\"messages\":[]}")).build());
            try (InputStream body = stream.body()) {
                assertEquals(200, stream.statusCode());
                body.read(new byte[64]);

                assertEquals(1, scrape().value("powerproxy_open_streams"));

                upstream.release();
                body.readAllBytes();
            }
            Await.until("the stream is no longer open", () -> scrape().value("powerproxy_open_streams") == 0);
        }
    }

    @Test
    void scrapingWorksWhileTheProxyIsUnderLoadAndEveryRequestIsCounted() throws Exception {
        ProxyConfig config = ConfigLoader.parse(io.powerproxy.testing.Configs.pluginsOnMock("[]", 0));
        ProxyMetrics metrics = ProxyMetrics.create(config, true);
        proxy = ProxyHarness.start(config, Pipeline.of(List.of()), metrics, clock);
        int clients = 8;
        int requestsEach = 60;
        java.util.concurrent.atomic.AtomicInteger failures = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicBoolean loadDone = new java.util.concurrent.atomic.AtomicBoolean();
        List<Double> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        Thread scraper = Thread.ofVirtual().start(() -> {
            while (!loadDone.get()) {
                HttpResponse<String> response = proxy.send(proxy.request("/powerproxy/metrics")
                        .header("api-key", io.powerproxy.testing.Configs.TEAM_A_KEY).GET().build());
                if (response.statusCode() != 200) {
                    failures.incrementAndGet();
                }
                seen.add(requestsCounted(MetricsScrape.parse(response.body())));
            }
        });
        try (var executor = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            for (int c = 0; c < clients; c++) {
                executor.submit(() -> {
                    for (int i = 0; i < requestsEach; i++) {
                        if (proxy.postJson("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
                                io.powerproxy.testing.Configs.TEAM_B_KEY, "{\"messages\":[]}").statusCode() != 200) {
                            failures.incrementAndGet();
                        }
                    }
                });
            }
        }
        loadDone.set(true);
        scraper.join();

        assertEquals(0, failures.get());
        assertTrue(seen.size() >= 2, "scrapes while the load ran: " + seen.size());
        for (int i = 1; i < seen.size(); i++) {
            assertTrue(seen.get(i) >= seen.get(i - 1), "counts never go back: " + seen);
        }
        Await.until("every request counted", () -> requestsCounted(scrape()) == clients * requestsEach);
        assertEquals(clients * requestsEach, scrape().value("powerproxy_requests_total", "client", "Team B", "deployment",
                "other", "endpoint", "mock", "status", "200"));
    }
}
