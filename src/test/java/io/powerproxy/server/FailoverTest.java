package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.any;
import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import io.powerproxy.testing.Await;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.ClosedPort;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.FakeClock;
import io.powerproxy.testing.HttpsWireMock;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.WireMockUpstream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** When a target is throttled or down, the request is served by the next one and the client never sees the failure. */
class FailoverTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String PTU = "/openai/deployments/gpt-4o-ptu/chat/completions";
    private static final String PAYGO = "/openai/deployments/gpt-4o-paygo/chat/completions";

    @RegisterExtension
    static final WireMockExtension sweden = WireMockUpstream.extension();
    @RegisterExtension
    static final WireMockExtension eastUs = WireMockUpstream.extension();

    private final FakeClock clock = new FakeClock();
    private ProxyHarness proxy;

    @AfterEach
    void stop() {
        if (proxy != null) {
            proxy.close();
        }
    }

    private void startProxy(String swedenUrl) {
        startProxy(swedenUrl, "");
    }

    /** Sweden (PTU, then PAYGO) and EastUS (PAYGO), with more settings for Sweden ({@code connections: ...}). */
    private void startProxy(String swedenUrl, String swedenSettings) {
        proxy = ProxyHarness.start(Configs.withAoai("""
                endpoints:
                  - name: Sweden
                    url: %s
                    key: sweden-key
                %s
                    virtual_deployments:
                      - name: gpt-4o
                        standins:
                          - name: gpt-4o-ptu
                          - name: gpt-4o-paygo
                  - name: EastUS
                    url: %s
                    key: eastus-key
                    virtual_deployments:
                      - name: gpt-4o
                        standins:
                          - name: gpt-4o-paygo
                """.formatted(swedenUrl, swedenSettings.indent(4).stripTrailing(), eastUs.baseUrl())), null, List.of(), clock);
    }

    private static com.github.tomakehurst.wiremock.client.ResponseDefinitionBuilder throttled(String retryAfterMs) {
        return aResponse().withStatus(429).withHeader("Content-Type", "application/json")
                .withHeader("retry-after-ms", retryAfterMs)
                .withBody("{\"error\":{\"code\":\"429\",\"message\":\"Requests to the ChatCompletions_Create Operation have exceeded the rate limit.\"}}");
    }

    private HttpResponse<String> chat() {
        return proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    }

    @Test
    void aThrottledPtuIsSkippedForPaygoUntilItsRetryAfterHasPassed() {
        startProxy(sweden.baseUrl());
        sweden.stubFor(post(urlPathEqualTo(PTU)).willReturn(throttled("2000")));
        sweden.stubFor(post(urlPathEqualTo(PAYGO)).willReturn(okJson("{\"served_by\":\"sweden-paygo\"}")));

        HttpResponse<String> first = chat();
        HttpResponse<String> second = chat();

        assertEquals(200, first.statusCode());
        assertEquals("{\"served_by\":\"sweden-paygo\"}", first.body());
        assertEquals("{\"served_by\":\"sweden-paygo\"}", second.body());
        sweden.verify(1, postRequestedFor(urlPathEqualTo(PTU)));

        clock.advance(Duration.ofMillis(2001));
        sweden.stubFor(post(urlPathEqualTo(PTU)).willReturn(okJson("{\"served_by\":\"sweden-ptu\"}")));

        assertEquals("{\"served_by\":\"sweden-ptu\"}", chat().body());
        sweden.verify(2, postRequestedFor(urlPathEqualTo(PTU)));
        sweden.verify(postRequestedFor(urlPathEqualTo(PTU)).withHeader("api-key", equalTo("sweden-key")));
    }

    @Test
    void eachBlockIsLoggedWithTheTargetAndItsDurationAndADailyQuotaAtWarn() {
        startProxy(sweden.baseUrl());
        sweden.stubFor(post(urlPathEqualTo(PTU)).willReturn(throttled("2000")));
        sweden.stubFor(post(urlPathEqualTo(PAYGO)).willReturn(aResponse().withStatus(429)
                .withHeader("Content-Type", "application/json").withHeader("retry-after", "86400")
                .withBody("{\"error\":{\"code\":\"429\",\"message\":\"Daily quota exceeded.\"}}")));
        eastUs.stubFor(post(urlPathEqualTo(PAYGO)).willReturn(okJson("{\"served_by\":\"eastus-paygo\"}")));

        try (CapturedLogs logs = CapturedLogs.start()) {
            assertEquals("{\"served_by\":\"eastus-paygo\"}", chat().body());

            List<String> blocks = logs.containing("trying the next target");
            assertEquals(2, blocks.size(), String.join("\n", logs.lines()));
            assertTrue(blocks.get(0).startsWith("INFO") && blocks.get(0).contains("gpt-4o-ptu")
                    && blocks.get(0).contains("Sweden") && blocks.get(0).contains("2000 ms"), blocks.get(0));
            assertTrue(blocks.get(1).startsWith("WARN") && blocks.get(1).contains("gpt-4o-paygo")
                    && blocks.get(1).contains("Sweden") && blocks.get(1).contains("86400 s, more than an hour"),
                    blocks.get(1));
            assertFalse(String.join("\n", logs.lines()).contains("sweden-key"), "no key in the log");
        }
    }

    @Test
    void aWhollyThrottledEndpointHandsOverToTheNextEndpoint() {
        startProxy(sweden.baseUrl());
        sweden.stubFor(any(anyUrl()).willReturn(throttled("5000")));
        eastUs.stubFor(post(urlPathEqualTo(PAYGO)).willReturn(okJson("{\"served_by\":\"eastus-paygo\"}")));

        HttpResponse<String> response = chat();

        assertEquals(200, response.statusCode());
        assertEquals("{\"served_by\":\"eastus-paygo\"}", response.body());
        eastUs.verify(postRequestedFor(urlPathEqualTo(PAYGO)).withHeader("api-key", equalTo("eastus-key")));
    }

    @Test
    void anEndpointThatIsDownHandsOverToTheNextEndpoint() {
        try (ClosedPort closed = ClosedPort.hold()) {
            startProxy(closed.url());
            eastUs.stubFor(post(urlPathEqualTo(PAYGO)).willReturn(okJson("{\"served_by\":\"eastus-paygo\"}")));

            assertEquals("{\"served_by\":\"eastus-paygo\"}", chat().body());
            assertEquals("{\"served_by\":\"eastus-paygo\"}", chat().body());
        }
    }

    @Test
    void anEndpointWhoseNameDoesNotResolveHandsOverToTheNextEndpoint() {
        // .invalid never resolves (RFC 6761).
        startProxy("http://sweden.invalid:" + sweden.getPort());
        eastUs.stubFor(post(urlPathEqualTo(PAYGO)).willReturn(okJson("{\"served_by\":\"eastus-paygo\"}")));

        HttpResponse<String> response = chat();

        assertEquals(200, response.statusCode(), response.body());
        assertEquals("{\"served_by\":\"eastus-paygo\"}", response.body());
    }

    @Test
    void anEndpointWhoseTlsHandshakeFailsHandsOverToTheNextEndpoint() {
        // Sweden presents a certificate the proxy does not trust (self-signed, not in the JDK's trust store), so the
        // handshake fails before a byte of the request is sent. A plain-HTTP server on an https URL would not do:
        // it may close the connection in a way the client reports like any other lost answer.
        try (HttpsWireMock untrusted = HttpsWireMock.start()) {
            untrusted.server().stubFor(any(anyUrl()).willReturn(okJson("{\"served_by\":\"sweden\"}")));
            startProxy(untrusted.baseUrl());
            eastUs.stubFor(post(urlPathEqualTo(PAYGO)).willReturn(okJson("{\"served_by\":\"eastus-paygo\"}")));

            HttpResponse<String> response = chat();

            assertEquals(200, response.statusCode(), response.body());
            assertEquals("{\"served_by\":\"eastus-paygo\"}", response.body());
            assertEquals(0, untrusted.server().getAllServeEvents().size());
        }
    }

    @Test
    void whenEverythingIsThrottledTheClientGets429UntilTheEarliestUnblock() throws Exception {
        startProxy(sweden.baseUrl());
        sweden.stubFor(post(urlPathEqualTo(PTU)).willReturn(throttled("9000")));
        sweden.stubFor(post(urlPathEqualTo(PAYGO)).willReturn(throttled("4000")));
        eastUs.stubFor(post(urlPathEqualTo(PAYGO)).willReturn(throttled("6500")));

        HttpResponse<String> response = chat();

        assertEquals(429, response.statusCode());
        AuthenticationTest.assertAzureError(response, "TooManyRequests", "'gpt-4o'");
        assertEquals("4000", response.headers().firstValue("retry-after-ms").orElseThrow());
        assertEquals("4", response.headers().firstValue("retry-after").orElseThrow());

        clock.advance(Duration.ofMillis(1000));
        HttpResponse<String> again = chat();
        assertEquals("3000", again.headers().firstValue("retry-after-ms").orElseThrow());
        assertEquals(3, sweden.findAll(postRequestedFor(anyUrl())).size() + eastUs.findAll(postRequestedFor(anyUrl())).size(),
                "blocked targets are not called again");
    }

    @Test
    void aStreamingRequestFailsOverWhenTheFirstTargetAnswers429() {
        startProxy(sweden.baseUrl());
        sweden.stubFor(post(urlPathEqualTo(PTU)).willReturn(throttled("3000")));
        String stream = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n";
        sweden.stubFor(post(urlPathEqualTo(PAYGO)).willReturn(aResponse().withStatus(200)
                .withHeader("Content-Type", "text/event-stream").withBody(stream)));

        HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_A_KEY,
                "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}");

        assertEquals(200, response.statusCode());
        assertEquals(stream, response.body());
    }

    @Test
    void clientErrorsFromTheUpstreamPassThroughAndDoNotBlockTheTarget() {
        startProxy(sweden.baseUrl());
        String badRequest = "{\"error\":{\"code\":\"BadRequest\",\"message\":\"max_tokens is too large\"}}";
        sweden.stubFor(post(urlPathEqualTo(PTU)).willReturn(aResponse().withStatus(400)
                .withHeader("Content-Type", "application/json").withBody(badRequest)));

        HttpResponse<String> first = chat();
        sweden.stubFor(post(urlPathEqualTo(PTU)).willReturn(aResponse().withStatus(401)
                .withHeader("Content-Type", "application/json").withBody("{\"error\":{\"code\":\"401\"}}")));
        HttpResponse<String> second = chat();

        assertEquals(400, first.statusCode());
        assertEquals(badRequest, first.body());
        assertEquals(401, second.statusCode());
        sweden.verify(2, postRequestedFor(urlPathEqualTo(PTU)));
        sweden.verify(0, postRequestedFor(urlPathEqualTo(PAYGO)));
    }

    @ParameterizedTest
    @ValueSource(ints = {408, 500, 502, 503, 504})
    void eachServerErrorAndTimeoutStatusFailsOver(int status) {
        startProxy(sweden.baseUrl());
        sweden.stubFor(post(urlPathEqualTo(PTU)).willReturn(aResponse().withStatus(status)));
        sweden.stubFor(post(urlPathEqualTo(PAYGO)).willReturn(aResponse().withStatus(status)));
        eastUs.stubFor(post(urlPathEqualTo(PAYGO)).willReturn(okJson("{\"served_by\":\"eastus-paygo\"}")));

        assertEquals("{\"served_by\":\"eastus-paygo\"}", chat().body());
        sweden.verify(1, postRequestedFor(urlPathEqualTo(PTU)));
        sweden.verify(1, postRequestedFor(urlPathEqualTo(PAYGO)));
    }

    @Test
    void aTargetThatSendsNoHeadersWithinTheReadTimeoutIsLeftForTheNextTarget() {
        startProxy(sweden.baseUrl(), """
                connections:
                  timeouts:
                    read: 0.5""");
        sweden.stubFor(post(urlPathEqualTo(PTU)).willReturn(okJson("{\"served_by\":\"sweden-ptu\"}")
                .withFixedDelay(3_000)));
        sweden.stubFor(post(urlPathEqualTo(PAYGO)).willReturn(okJson("{\"served_by\":\"sweden-paygo\"}")));

        HttpResponse<String> response = chat();

        assertEquals(200, response.statusCode(), response.body());
        assertEquals("{\"served_by\":\"sweden-paygo\"}", response.body());
        sweden.verify(1, postRequestedFor(urlPathEqualTo(PTU)));
        assertEquals("{\"served_by\":\"sweden-paygo\"}", chat().body(), "the slow target stays blocked");
        sweden.verify(1, postRequestedFor(urlPathEqualTo(PTU)));
    }

    @Test
    void theRequestBodyIsSentUnchangedToEveryCandidate() {
        startProxy(sweden.baseUrl());
        sweden.stubFor(any(anyUrl()).willReturn(throttled("1000")));
        eastUs.stubFor(any(anyUrl()).willReturn(okJson("{}")));
        String body = "{\"messages\":[{\"role\":\"user\",\"content\":\"the same bytes \\u00e9\"}],\"max_tokens\":3}";

        proxy.postJson(CHAT, Configs.TEAM_A_KEY, body);

        sweden.verify(postRequestedFor(urlPathEqualTo(PTU)).withRequestBody(equalTo(body)));
        sweden.verify(postRequestedFor(urlPathEqualTo(PAYGO)).withRequestBody(equalTo(body)));
        eastUs.verify(postRequestedFor(urlPathEqualTo(PAYGO)).withRequestBody(equalTo(body)));
    }

    @Test
    void afterEveryTargetWasThrottledTheyAreTriedAgainOnceTheirBlocksEnd() {
        startProxy(sweden.baseUrl());
        sweden.stubFor(any(anyUrl()).willReturn(throttled("500")));
        eastUs.stubFor(any(anyUrl()).willReturn(throttled("500")));

        assertEquals(429, chat().statusCode());
        clock.advance(Duration.ofMillis(501));
        eastUs.stubFor(any(anyUrl()).willReturn(okJson("{\"served_by\":\"eastus\"}")));

        HttpResponse<String> response = chat();
        assertEquals(200, response.statusCode(), "after the block, targets are tried again");
        assertTrue(response.body().contains("eastus"));
    }

    static HttpRequest.Builder chatRequest(ProxyHarness proxy, boolean stream) {
        return proxy.request(CHAT).header("api-key", Configs.TEAM_A_KEY).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[],\"stream\":" + stream + "}"));
    }

    @Test
    void aRequestWaitingForAFreeConnectionMovesOnWhenTheTargetWasThrottledMeanwhile() throws Exception {
        proxy = ProxyHarness.start(Configs.withAoai("""
                endpoints:
                  - name: Sweden
                    url: %s
                    key: sweden-key
                    connections:
                      limits:
                        max_connections: 1
                  - name: EastUS
                    url: %s
                    key: eastus-key
                """.formatted(sweden.baseUrl(), eastUs.baseUrl())), null, List.of(), clock);
        sweden.stubFor(post(urlPathEqualTo("/openai/deployments/gpt-4o/chat/completions"))
                .willReturn(throttled("10000").withFixedDelay(1000)));
        eastUs.stubFor(post(urlPathEqualTo("/openai/deployments/gpt-4o/chat/completions"))
                .willReturn(okJson("{\"served_by\":\"eastus\"}")));

        try (var clients = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            var first = clients.submit(this::chat);
            // The second request starts while the first holds Sweden's only connection, and waits for it.
            Await.until("Sweden got the first request", () -> !sweden.getAllServeEvents().isEmpty());
            var second = clients.submit(this::chat);

            assertEquals("{\"served_by\":\"eastus\"}", first.get().body());
            assertEquals("{\"served_by\":\"eastus\"}", second.get().body());
        }
        sweden.verify(1, postRequestedFor(anyUrl()));
    }
}
