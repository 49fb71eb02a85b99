package io.powerproxy.plugins;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginContext;
import io.powerproxy.pipeline.ProxyException;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.FakeClock;
import io.powerproxy.testing.HeldUpstream;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RecordingPlugin;
import io.powerproxy.testing.ScriptedSseUpstream;
import io.powerproxy.testing.WireMockUpstream;
import io.powerproxy.usage.UsageRecord;
import java.io.InputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Token admission end to end, over real sockets: the proxy with LimitUsage in front of several upstreams. With
 * {@code admission: reserve}, concurrent requests never hold more than the budget together, and every way a request
 * can end gives back what it did not use; with {@code admission: after}, the same requests overrun it.
 */
class LimitUsageAdmissionTest {

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

    /** "Hi" from the user: 8 prompt tokens as the proxy estimates them, plus max_tokens. */
    static String ask(long maxTokens) {
        return "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":" + maxTokens + "}";
    }

    /** A chat completion that used these tokens. */
    static String answer(long prompt, long completion) {
        return """
                {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o",
                 "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi"}}],
                 "usage": {"prompt_tokens": %d, "completion_tokens": %d, "total_tokens": %d}}"""
                .formatted(prompt, completion, prompt + completion).replace("\n", " ");
    }

    /** 12:00:15.250 on some day, in epoch ms: every test stays in this minute, whatever the real clock does. */
    private final AtomicLong now = new AtomicLong(1_764_072_015_250L);
    private final FakeClock balancerClock = new FakeClock();

    /** Team A's budget, LimitUsage's settings and plugins after it (YAML list items), and the endpoints. */
    private static String config(double budgetInK, String limitUsageSettings, String morePlugins, String endpoints) {
        return """
                clients:
                  - name: Team A
                    key: %s
                    max_tokens_per_minute_in_k: %s
                    deployments_allowed: gpt-4o
                plugins:
                  - name: LimitUsage
                %s
                %s
                aoai:
                  endpoints:
                %s
                """.formatted(Configs.TEAM_A_KEY, budgetInK, limitUsageSettings.indent(4).stripTrailing(),
                morePlugins.indent(2).stripTrailing(), endpoints.indent(4).stripTrailing());
    }

    private static String endpoint(String name, String url) {
        // Equal priority, so that requests are spread over both; room for every request at once.
        return "- name: %s\n  url: %s\n  key: %s\n  priority: 0\n  connections: {limits: {max_connections: 300}}\n"
                .formatted(name, url, Configs.ENDPOINT_KEY);
    }

    /** The proxy on the config, with its LimitUsage on this test's clock, the plugins given after it, and a recorder. */
    private ProxyHarness proxy(String yaml, RecordingPlugin recorder, Plugin... after) throws Exception {
        ProxyConfig config = ConfigLoader.parse(yaml);
        List<Plugin> plugins = new ArrayList<>();
        plugins.add(LimitUsage.create(new PluginContext(config.plugins().get(0), config), now::get));
        if (config.plugins().size() > 1) {
            plugins.add(AllowDeployments.create(new PluginContext(config.plugins().get(1), config)));
        }
        plugins.addAll(List.of(after));
        plugins.add(recorder);
        return ProxyHarness.start(config, plugins, balancerClock);
    }

    /** Tokens the answers of admitted requests used, from the usage records, against the budget. */
    record Outcome(int admitted, int refused, long tokens) {
    }

    /**
     * Sends 200 requests at once (each may use 8 + 92 = 100 tokens and uses exactly that) to upstreams that hold them
     * until every request was either refused or arrived upstream; then lets them answer.
     */
    static Outcome twoHundredAtOnce(List<ProxyHarness> proxies, List<HeldUpstream> upstreams) throws Exception {
        AtomicInteger refused = new AtomicInteger();
        List<Future<HttpResponse<String>>> responses = new ArrayList<>();
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < 200; i++) {
                ProxyHarness proxy = proxies.get(i % proxies.size());
                responses.add(threads.submit(() -> {
                    HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY, ask(92));
                    if (response.statusCode() == 429) {
                        refused.incrementAndGet();
                    }
                    return response;
                }));
            }
            Await.until("every request was refused or is held upstream",
                    () -> "refused " + refused.get() + ", upstream " + arrived(upstreams),
                    () -> refused.get() + arrived(upstreams) == 200);
            int admitted = arrived(upstreams);
            upstreams.forEach(HeldUpstream::open);
            long tokens = 0;
            for (Future<HttpResponse<String>> future : responses) {
                HttpResponse<String> response = future.get(60, TimeUnit.SECONDS);
                if (response.statusCode() == 200) {
                    tokens += ProxyConfigJson.totalTokens(response.body());
                } else {
                    assertEquals(429, response.statusCode(), response.body());
                }
            }
            return new Outcome(admitted, refused.get(), tokens);
        }
    }

    private static int arrived(List<HeldUpstream> upstreams) {
        return upstreams.stream().mapToInt(HeldUpstream::arrived).sum();
    }

    @Test
    void twoHundredConcurrentRequestsTogetherUseNoMoreThanTheBudgetWithReserve() throws Exception {
        try (HeldUpstream sweden = HeldUpstream.start(answer(8, 92));
                HeldUpstream france = HeldUpstream.start(answer(8, 92));
                ProxyHarness proxy = proxy(config(2, "", "", endpoint("Sweden", sweden.baseUrl())
                        + endpoint("France", france.baseUrl())), new RecordingPlugin())) {

            Outcome outcome = twoHundredAtOnce(List.of(proxy), List.of(sweden, france));

            assertEquals(20, outcome.admitted(), "2,000 tokens at 100 per request: " + outcome);
            assertEquals(2_000, outcome.tokens(), "overshoot 0: " + outcome);
            assertTrue(sweden.arrived() > 0 && france.arrived() > 0, "both endpoints served");
        }
    }

    @Test
    void twoHundredConcurrentRequestsOverrunTheBudgetWithAfterAsTheOriginalDid() throws Exception {
        try (HeldUpstream sweden = HeldUpstream.start(answer(8, 92));
                HeldUpstream france = HeldUpstream.start(answer(8, 92));
                ProxyHarness proxy = proxy(config(2, "admission: after", "", endpoint("Sweden", sweden.baseUrl())
                        + endpoint("France", france.baseUrl())), new RecordingPlugin())) {

            Outcome outcome = twoHundredAtOnce(List.of(proxy), List.of(sweden, france));

            assertEquals(200, outcome.admitted(), "none was booked when the others were checked: " + outcome);
            assertEquals(20_000, outcome.tokens(), "18,000 tokens over the budget of 2,000: " + outcome);
        }
    }

    @Test
    void aRequestThatUsedLessThanItHeldLeavesTheRestToTheNext() throws Exception {
        azure.stubFor(post(urlPathMatching(".*")).willReturn(okJson(answer(8, 2))));
        try (ProxyHarness proxy = proxy(config(1.1, "", "", endpoint("Sweden", azure.baseUrl())), new RecordingPlugin())) {

            HttpResponse<String> first = proxy.postJson(CHAT, Configs.TEAM_A_KEY, ask(1000));
            HttpResponse<String> second = proxy.postJson(CHAT, Configs.TEAM_A_KEY, ask(1000));
            HttpResponse<String> third = proxy.postJson(CHAT, Configs.TEAM_A_KEY, ask(1000));

            assertEquals(200, first.statusCode(), first.body());
            assertEquals(200, second.statusCode(), "1,008 held, 10 used: 1,090 left for the next 1,008; " + second.body());
            assertEquals(200, third.statusCode(), third.body());
            HttpResponse<String> refused = proxy.postJson(CHAT, Configs.TEAM_A_KEY, ask(1092));
            assertEquals(429, refused.statusCode());
            assertEquals("1070", refused.headers().firstValue("x-ratelimit-remaining-tokens").orElse(null),
                    "1,100 - 3 x 10");
        }
    }

    @Test
    void aRefusalTellsWhenTheRequestWouldFitInTheAzureErrorShape() throws Exception {
        try (HeldUpstream upstream = HeldUpstream.start(answer(8, 92));
                ProxyHarness proxy = proxy(config(1, "", "", endpoint("Sweden", upstream.baseUrl())),
                        new RecordingPlugin())) {
            upstream.open();
            assertEquals(200, proxy.postJson(CHAT, Configs.TEAM_A_KEY, ask(792)).statusCode());

            HttpResponse<String> refused = proxy.postJson(CHAT, Configs.TEAM_A_KEY, ask(992));

            assertEquals(429, refused.statusCode());
            assertEquals("44750", refused.headers().firstValue("retry-after-ms").orElse(null));
            assertEquals("45", refused.headers().firstValue("retry-after").orElse(null));
            assertEquals("900", refused.headers().firstValue("x-ratelimit-remaining-tokens").orElse(null));
            assertTrue(refused.body().startsWith("{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"Client 'Team A'"
                    + " has 100 of its 1000 tokens per minute"), refused.body());
            assertEquals(1, upstream.arrived(), "the refused request did not go upstream");
        }
    }

    @Test
    void aStreamThatIsCutShortSettlesAtTheTokensCountedSoFar() throws Exception {
        List<String> events = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            events.add("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token" + i + "\"}}]}\n\n");
        }
        RecordingPlugin recorder = new RecordingPlugin();
        try (ScriptedSseUpstream upstream = ScriptedSseUpstream.start(events, Duration.ofMillis(20), Duration.ZERO);
                ProxyHarness proxy = proxy(config(5, "", "", endpoint("Sweden", upstream.baseUrl())), recorder)) {

            HttpResponse<InputStream> response = proxy.sendForStream(proxy.request(CHAT)
                    .header("api-key", Configs.TEAM_A_KEY).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                            + "\"max_tokens\":4000,\"stream\":true}")).build());
            try (InputStream body = response.body()) {
                body.readNBytes(400);
            }
            UsageRecord record = recorder.await(1).get(0);
            assertEquals(499, record.statusCode());
            assertTrue(record.totalTokens() > 8 && record.totalTokens() < 1000, "counted so far: " + record.totalTokens());

            HttpResponse<String> probe = proxy.postJson(CHAT, Configs.TEAM_A_KEY, ask(5000));
            assertEquals(429, probe.statusCode(), probe.body());
            assertEquals(Long.toString(5000 - record.totalTokens()),
                    probe.headers().firstValue("x-ratelimit-remaining-tokens").orElse(null),
                    "the 4,008 held were settled at the tokens counted");
        }
    }

    @Test
    void aRequestThatFindsNoTargetLeftGivesBackAllItHeld() throws Exception {
        azure.stubFor(post(urlPathMatching("/sweden/.*")).willReturn(aResponse().withStatus(500)));
        azure.stubFor(post(urlPathMatching("/france/.*")).willReturn(aResponse().withStatus(429)
                .withHeader("retry-after-ms", "5000")));
        try (ProxyHarness proxy = proxy(config(1, "", "", endpoint("Sweden", azure.baseUrl() + "/sweden/")
                + endpoint("France", azure.baseUrl() + "/france/")), new RecordingPlugin())) {

            HttpResponse<String> noTarget = proxy.postJson(CHAT, Configs.TEAM_A_KEY, ask(992));
            assertEquals(429, noTarget.statusCode());
            assertTrue(noTarget.body().contains("Every Azure OpenAI target"), noTarget.body());
            azure.verify(postRequestedFor(urlPathMatching("/sweden/.*")));
            azure.verify(postRequestedFor(urlPathMatching("/france/.*")));

            azure.resetAll();
            azure.stubFor(post(urlPathMatching(".*")).willReturn(okJson(answer(8, 992))));
            balancerClock.advance(Duration.ofSeconds(11));
            HttpResponse<String> whole = proxy.postJson(CHAT, Configs.TEAM_A_KEY, ask(992));

            assertEquals(200, whole.statusCode(), "the whole budget was free again: " + whole.body());
        }
    }

    @Test
    void aRequestRefusedByAPluginAfterLimitUsageGivesBackAllItHeld() throws Exception {
        Plugin refuser = new Plugin() {
            @Override
            public void onRequestReady(Exchange exchange) {
                String header = exchange.requestHeader("x-test-refuse");
                if ("403".equals(header)) {
                    throw ProxyException.of(403, "Forbidden", "Refused by a test plugin.");
                }
                if ("bug".equals(header)) {
                    throw new IllegalStateException("a plugin's bug");
                }
            }
        };
        azure.stubFor(post(urlPathMatching(".*")).willReturn(okJson(answer(8, 992))));
        try (ProxyHarness proxy = proxy(config(1, "", "- name: AllowDeployments", endpoint("Sweden", azure.baseUrl())),
                new RecordingPlugin(), refuser)) {
            for (int i = 0; i < 3; i++) {
                HttpResponse<String> refused = send(proxy, "403");
                assertEquals(403, refused.statusCode(), "not 429: the refused request gave back its hold; " + refused.body());
                assertEquals(500, send(proxy, "bug").statusCode());
                assertEquals(401, proxy.postJson(CHAT.replace("gpt-4o", "gpt-4o-mini"), Configs.TEAM_A_KEY, ask(992))
                        .statusCode(), "refused by AllowDeployments");
            }

            assertEquals(200, proxy.postJson(CHAT, Configs.TEAM_A_KEY, ask(992)).statusCode());
            assertEquals(429, proxy.postJson(CHAT, Configs.TEAM_A_KEY, ask(1)).statusCode(), "the budget is used up");
            azure.verify(1, postRequestedFor(urlPathMatching(".*")));
        }
    }

    private static HttpResponse<String> send(ProxyHarness proxy, String refuse) {
        return proxy.send(proxy.request(CHAT).header("api-key", Configs.TEAM_A_KEY).header("x-test-refuse", refuse)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(ask(992))).build());
    }

    /** Reads {@code usage.total_tokens} of an answer. */
    static final class ProxyConfigJson {
        private ProxyConfigJson() {
        }

        static long totalTokens(String body) throws Exception {
            return io.powerproxy.json.Json.MAPPER.readTree(body).path("usage").path("total_tokens").asLong();
        }
    }
}
