package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.equalTo;
import static com.github.tomakehurst.wiremock.client.WireMock.matchingJsonPath;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathMatching;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.tomakehurst.wiremock.junit5.WireMockExtension;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RecordingPlugin;
import io.powerproxy.testing.ScriptedSseUpstream;
import io.powerproxy.testing.WireMockUpstream;
import io.powerproxy.testing.WordStreamUpstream;
import io.powerproxy.usage.UsageRecord;
import io.powerproxy.usage.UsageRecord.UsageSource;
import java.io.InputStream;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Every request an upstream answered gets exactly one usage record, with its own client and counts. */
class UsageRecordsTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String STREAM_REQUEST = "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}],\"stream\":true}";
    private static final Encoding O200K = Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.O200K_BASE);

    @RegisterExtension
    static final WireMockExtension azure = WireMockUpstream.extension();

    /** One streamed request of the interleaving test, and what its record must say. */
    private record Sent(String client, int words, HttpResponse<String> response) {
    }

    private static List<Sent> twoHundredInterleavedStreams(ProxyHarness proxy) throws Exception {
        List<Future<Sent>> futures = new ArrayList<>();
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int i = 0; i < 200; i++) {
                boolean teamA = i % 2 == 0;
                int words = 3 + (i * 37) % 120;
                futures.add(threads.submit(() -> new Sent(teamA ? "Team A" : "Team B", words, proxy.send(proxy.request(CHAT)
                        .header("api-key", teamA ? Configs.TEAM_A_KEY : Configs.TEAM_B_KEY)
                        .header("x-test-words", Integer.toString(words))
                        .POST(HttpRequest.BodyPublishers.ofString(STREAM_REQUEST)).build()))));
            }
            List<Sent> sent = new ArrayList<>();
            for (Future<Sent> future : futures) {
                sent.add(future.get(60, TimeUnit.SECONDS));
            }
            return sent;
        }
    }

    private static String words(int count) {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < count; i++) {
            text.append(WordStreamUpstream.word(i));
        }
        return text.toString();
    }

    @Test
    void twoHundredInterleavedStreamsOfTwoClientsEachGetTheirOwnRecordWithExactCounts() throws Exception {
        RecordingPlugin recorder = new RecordingPlugin();
        try (WordStreamUpstream upstream = WordStreamUpstream.start(true);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()), null, List.of(recorder))) {

            List<Sent> sent = twoHundredInterleavedStreams(proxy);
            recorder.await(200);

            Map<String, UsageRecord> records = recorder.byRequestId();
            assertEquals(200, records.size());
            for (Sent request : sent) {
                assertEquals(200, request.response().statusCode());
                assertFalse(request.response().body().contains("\"usage\":{"), "the client did not ask for the usage chunk");
                assertTrue(request.response().body().contains(WordStreamUpstream.word(request.words() - 1) + "\""));
                UsageRecord record = records.get(request.response().headers().firstValue("x-powerproxy-request-id").orElseThrow());
                assertEquals(request.client(), record.client());
                assertEquals(request.words(), record.completionTokens());
                assertEquals(WordStreamUpstream.PROMPT_TOKENS, record.promptTokens());
                assertEquals(WordStreamUpstream.PROMPT_TOKENS + request.words(), record.totalTokens());
                assertEquals(UsageSource.REPORTED, record.usageSource());
                assertTrue(record.isStreaming());
            }
        }
    }

    @Test
    void withAnUpstreamThatIgnoresIncludeUsageEachOfTwoHundredStreamsIsEstimatedFromItsOwnText() throws Exception {
        RecordingPlugin recorder = new RecordingPlugin();
        try (WordStreamUpstream upstream = WordStreamUpstream.start(false);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()), null, List.of(recorder))) {

            List<Sent> sent = twoHundredInterleavedStreams(proxy);
            recorder.await(200);

            Map<String, UsageRecord> records = recorder.byRequestId();
            for (Sent request : sent) {
                UsageRecord record = records.get(request.response().headers().firstValue("x-powerproxy-request-id").orElseThrow());
                long truth = O200K.countTokensOrdinary(words(request.words()));
                assertEquals(request.client(), record.client());
                assertEquals(UsageSource.ESTIMATED, record.usageSource());
                assertEquals(truth, record.completionTokens(), Math.max(1, truth * 0.02), "words: " + request.words());
                assertTrue(record.promptTokens() > 0);
                assertEquals(record.promptTokens() + record.completionTokens(), record.totalTokens());
            }
        }
    }

    @Test
    void theUpstreamIsAskedForUsageAndTheClientGetsTheStreamWithoutTheUsageChunk() throws Exception {
        String chunks = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n"
                + "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n";
        String usage = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":1,\"total_tokens\":12}}\n\n";
        String done = "data: [DONE]\n\n";
        azure.stubFor(post(urlPathMatching(".*")).willReturn(aResponse().withStatus(200)
                .withHeader("Content-Type", "text/event-stream").withBody(chunks + usage + done)));
        RecordingPlugin recorder = new RecordingPlugin();
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()), null, List.of(recorder))) {

            HttpResponse<String> plain = proxy.postJson(CHAT, Configs.TEAM_A_KEY, STREAM_REQUEST);
            String askingForUsage = "{\"messages\":[],\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
            HttpResponse<String> asked = proxy.postJson(CHAT, Configs.TEAM_A_KEY, askingForUsage);
            recorder.await(2);

            assertEquals(chunks + done, plain.body(), "exactly the upstream's stream less the usage chunk");
            assertEquals(chunks + usage + done, asked.body(), "a client that asked gets the usage chunk");
            azure.verify(2, postRequestedFor(urlPathEqualTo("/openai/deployments/gpt-4o/chat/completions"))
                    .withRequestBody(matchingJsonPath("$.stream_options.include_usage", equalTo("true"))));
            azure.verify(postRequestedFor(urlPathEqualTo("/openai/deployments/gpt-4o/chat/completions"))
                    .withRequestBody(equalTo(askingForUsage)));
            for (UsageRecord record : recorder.records()) {
                assertEquals(UsageSource.REPORTED, record.usageSource());
                assertEquals(11, record.promptTokens());
                assertEquals(1, record.completionTokens());
            }
        }
    }

    @Test
    void anOlderApiVersionIsNotAskedForUsageAndTheCountsAreEstimated() throws Exception {
        azure.stubFor(post(urlPathMatching(".*")).willReturn(aResponse().withStatus(200)
                .withHeader("Content-Type", "text/event-stream")
                .withBody("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello there\"}}]}\n\ndata: [DONE]\n\n")));
        RecordingPlugin recorder = new RecordingPlugin();
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()), null, List.of(recorder))) {

            proxy.postJson("/openai/deployments/gpt-4o/chat/completions?api-version=2024-06-01", Configs.TEAM_A_KEY,
                    STREAM_REQUEST);
            List<UsageRecord> records = recorder.await(1);

            azure.verify(postRequestedFor(urlPathMatching(".*")).withRequestBody(equalTo(STREAM_REQUEST)));
            assertEquals(UsageSource.ESTIMATED, records.get(0).usageSource());
            assertEquals(O200K.countTokensOrdinary("Hello there"), records.get(0).completionTokens());
            assertEquals("2024-06-01", records.get(0).aoaiApiVersion());
        }
    }

    @Test
    void aNonStreamingRecordCarriesEveryField() throws Exception {
        azure.stubFor(post(urlPathMatching(".*")).willReturn(okJson("{\"id\":\"x\",\"object\":\"chat.completion\","
                + "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"}}],"
                + "\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":3,\"total_tokens\":23}}")
                .withHeader("x-ms-region", "Sweden Central")));
        RecordingPlugin recorder = new RecordingPlugin();
        try (ProxyHarness proxy = ProxyHarness.start(Configs.withAoai("""
                endpoints:
                  - name: Sweden
                    url: %s
                    key: k
                    virtual_deployments:
                      - name: gpt-4o
                        standins:
                          - name: gpt-4o-paygo
                """.formatted(azure.baseUrl())), null, List.of(recorder))) {

            HttpResponse<String> response = proxy.postJson(CHAT, Configs.TEAM_B_KEY, "{\"messages\":[]}");
            UsageRecord record = recorder.await(1).get(0);

            assertEquals("Team B", record.client());
            assertFalse(record.isStreaming());
            assertEquals(20, record.promptTokens());
            assertEquals(3, record.completionTokens());
            assertEquals(23, record.totalTokens());
            assertEquals("Sweden Central", record.aoaiRegion());
            assertEquals("Sweden", record.aoaiEndpoint());
            assertEquals("gpt-4o", record.aoaiVirtualDeployment());
            assertEquals("gpt-4o-paygo", record.aoaiStandinDeployment());
            assertEquals("2024-10-21", record.aoaiApiVersion());
            assertEquals(200, record.statusCode());
            assertEquals(UsageRecord.Operation.CHAT, record.operation());
            assertEquals("gpt-4o-2024-08-06", record.model());
            assertEquals(UsageSource.REPORTED, record.usageSource());
            assertEquals(response.headers().firstValue("x-powerproxy-request-id").orElseThrow(), record.requestId());
            assertTrue(record.aoaiRoundtripTimeMs() >= 0);
        }
    }

    @Test
    void aClientThatGoesAwayMidStreamStillGetsAnEstimatedRecordWithStatus499() throws Exception {
        List<String> events = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            events.add("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token" + i + "\"}}]}\n\n");
        }
        RecordingPlugin recorder = new RecordingPlugin();
        try (ScriptedSseUpstream upstream = ScriptedSseUpstream.start(events, Duration.ofMillis(20), Duration.ZERO);
                ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(upstream.baseUrl()), null, List.of(recorder))) {

            HttpResponse<InputStream> response = proxy.sendForStream(proxy.request(CHAT).header("api-key", Configs.TEAM_A_KEY)
                    .POST(HttpRequest.BodyPublishers.ofString(STREAM_REQUEST)).build());
            try (InputStream body = response.body()) {
                body.readNBytes(400);
            }
            UsageRecord record = recorder.await(1).get(0);

            assertEquals(499, record.statusCode());
            assertEquals(UsageSource.ESTIMATED, record.usageSource());
            assertTrue(record.completionTokens() > 0 && record.completionTokens() < 600, "counted what was streamed so far: "
                    + record.completionTokens());
            assertEquals("Team A", record.client());
        }
    }

    @Test
    void refusedRequestsGetNoRecordAndUpstreamErrorsGetOne() throws Exception {
        azure.stubFor(post(urlPathMatching(".*")).willReturn(aResponse().withStatus(400)
                .withHeader("Content-Type", "application/json").withBody("{\"error\":{\"code\":\"BadRequest\"}}")));
        RecordingPlugin recorder = new RecordingPlugin();
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()), null, List.of(recorder))) {

            assertEquals(401, proxy.postJson(CHAT, "wrong-key", "{}").statusCode());
            assertEquals(400, proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}").statusCode());
            // A record comes just after the answer: once the proxy stopped, and with it every handler, all are in.
            proxy.stop();
            List<UsageRecord> records = recorder.records();

            assertEquals(1, records.size());
            assertEquals(400, records.get(0).statusCode());
            assertEquals(0, records.get(0).totalTokens());
            assertNull(records.get(0).model());
        }
    }

    @Test
    void aPluginThatFailsInOnUsageKeepsNeitherTheAnswerNorOtherPluginsFromTheirRecord() throws Exception {
        io.powerproxy.pipeline.Plugin broken = new io.powerproxy.pipeline.Plugin() {
            @Override
            public void onUsage(io.powerproxy.pipeline.Exchange exchange, UsageRecord usage) {
                throw new NoClassDefFoundError("com/example/Missing (a plugin jar built against another version)");
            }
        };
        RecordingPlugin recorder = new RecordingPlugin();
        String mock = Configs.withAoai("""
                mock_response:
                  json: {"object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}}
                """);
        try (ProxyHarness proxy = ProxyHarness.start(mock, null, List.of(broken, recorder))) {

            HttpResponse<String> first = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");
            HttpResponse<String> second = proxy.postJson(CHAT, Configs.TEAM_A_KEY, "{}");

            assertEquals(200, first.statusCode());
            assertEquals(200, second.statusCode());
            assertEquals(2, recorder.await(2).size());
            assertEquals(5, recorder.records().get(0).totalTokens());
        }
    }
}
