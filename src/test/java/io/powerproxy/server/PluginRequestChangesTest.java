package io.powerproxy.server;

import static com.github.tomakehurst.wiremock.client.WireMock.anyUrl;
import static com.github.tomakehurst.wiremock.client.WireMock.okJson;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.core.WireMockConfiguration.options;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.powerproxy.config.ConfigLoader;
import io.powerproxy.config.ProxyConfig;
import io.powerproxy.json.Json;
import io.powerproxy.pipeline.Exchange;
import io.powerproxy.pipeline.Plugin;
import io.powerproxy.pipeline.PluginFactory;
import io.powerproxy.pipeline.PluginRegistry;
import io.powerproxy.testing.CapturedLogs;
import io.powerproxy.testing.Configs;
import io.powerproxy.testing.ProxyHarness;
import io.powerproxy.testing.RecordingPlugin;
import io.powerproxy.usage.UsageRecord;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A plugin's changes to the request are what goes upstream, what the usage is counted from and what later hooks
 * see; a plugin that breaks the rules is named in the log by its name in the config.
 */
class PluginRequestChangesTest {

    private static final String CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";
    private static final String ANSWER = """
            {"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-11-20",\
            "choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],\
            "usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}""";
    /** An answer without usage: its prompt is estimated from the request body. */
    private static final String ANSWER_WITHOUT_USAGE = """
            {"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-2024-11-20",\
            "choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}]}""";
    private static final String LONG_PROMPT = "Summarise the history of the Hanseatic League in three paragraphs, with"
            + " dates, the main cities and why it declined; then list five books about it.";

    private WireMockServer azure;

    @BeforeEach
    void start() {
        azure = new WireMockServer(options().bindAddress("127.0.0.1").dynamicPort());
        azure.start();
        azure.stubFor(post(anyUrl()).willReturn(okJson(ANSWER)));
    }

    @AfterEach
    void stop() {
        azure.stop();
    }

    /** Changes the body, headers and query; notes what it sees of the request after the request hooks. */
    private static final class Changer implements Plugin {
        final List<String> seenLater = new CopyOnWriteArrayList<>();

        @Override
        public void onRequestReceived(Exchange exchange) {
            exchange.changeRequest().setHeader("x-team", "platform").removeHeader("x-drop");
        }

        @Override
        public void onClientIdentified(Exchange exchange) {
            exchange.changeRequest().setBodyField("max_tokens", 100).removeBodyField("temperature")
                    .setBodyField("user", "alice").addHeader("x-trace", "proxy")
                    .setQueryParameter("api-version", "2024-06-01").setQueryParameter("note", "a b&c");
        }

        @Override
        public void onResponseHeaders(Exchange exchange) {
            ByteBuffer body = exchange.requestBody();
            byte[] bytes = new byte[body.remaining()];
            body.get(bytes);
            seenLater.add(new String(bytes, java.nio.charset.StandardCharsets.UTF_8));
            seenLater.add(exchange.requestHeader("x-team") + " " + exchange.requestHeaders().get("x-trace") + " "
                    + exchange.query());
        }
    }

    @Test
    void theChangedBodyHeadersAndQueryAreWhatGoesUpstreamIsRecordedAndIsSeenByLaterHooks() throws Exception {
        Changer changer = new Changer();
        RecordingPlugin recorder = new RecordingPlugin();
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()), null, List.of(changer, recorder))) {
            HttpResponse<String> response = proxy.send(proxy.request(CHAT).header("api-key", Configs.TEAM_A_KEY)
                    .header("x-trace", "client").header("x-drop", "me")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[],\"max_tokens\":5000,\"temperature\":1}"))
                    .build());

            assertEquals(200, response.statusCode());
            LoggedRequest sent = azure.getAllServeEvents().getFirst().getRequest();
            JsonNode body = Json.MAPPER.readTree(sent.getBodyAsString());
            assertEquals(Json.MAPPER.readTree("{\"messages\":[],\"max_tokens\":100,\"user\":\"alice\"}"), body);
            assertEquals("platform", sent.getHeader("x-team"));
            assertEquals(List.of("client", "proxy"), sent.getHeaders().getHeader("x-trace").values());
            assertFalse(sent.containsHeader("x-drop"));
            assertEquals(Configs.ENDPOINT_KEY, sent.getHeader("api-key"), "the endpoint's key, as always");
            assertEquals("2024-06-01", sent.queryParameter("api-version").firstValue());
            assertEquals("a b&c", sent.queryParameter("note").firstValue());
            assertEquals(List.of(sent.getBodyAsString(), "platform [client, proxy] api-version=2024-06-01&note=a%20b%26c"),
                    changer.seenLater);
            UsageRecord record = recorder.await(1).getFirst();
            assertEquals("2024-06-01", record.aoaiApiVersion(), "the api-version that was sent");
        }
    }

    /** Replaces the messages of requests that carry {@code x-replace} with one long prompt. */
    private static final class PromptReplacer implements Plugin {
        @Override
        public void onClientIdentified(Exchange exchange) {
            if (exchange.requestHeader("x-replace") != null) {
                exchange.changeRequest().setBodyField("messages", Json.MAPPER.createArrayNode()
                        .add(Json.MAPPER.createObjectNode().put("role", "user").put("content", LONG_PROMPT)));
            }
        }
    }

    @Test
    void theEstimatedPromptIsCountedFromTheBodyThatWasSentNotTheOneReceived() throws Exception {
        azure.stubFor(post(anyUrl()).willReturn(okJson(ANSWER_WITHOUT_USAGE)));
        RecordingPlugin recorder = new RecordingPlugin();
        String shortBody = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
        String longBody = "{\"messages\":[{\"role\":\"user\",\"content\":\"" + LONG_PROMPT + "\"}]}";
        try (ProxyHarness proxy = ProxyHarness.start(Configs.oneEndpoint(azure.baseUrl()), null,
                List.of(new PromptReplacer(), recorder))) {
            proxy.send(proxy.request(CHAT).header("api-key", Configs.TEAM_A_KEY).header("x-replace", "yes")
                    .POST(HttpRequest.BodyPublishers.ofString(shortBody)).build());
            proxy.postJson(CHAT, Configs.TEAM_B_KEY, longBody);
            proxy.postJson(CHAT, Configs.TEAM_B_KEY, shortBody);

            List<UsageRecord> records = recorder.await(3);
            UsageRecord replaced = records.stream().filter(r -> r.client().equals("Team A")).findFirst().orElseThrow();
            List<Long> direct = records.stream().filter(r -> r.client().equals("Team B"))
                    .map(UsageRecord::promptTokens).sorted().toList();
            assertEquals("estimated", replaced.usageSource().label());
            assertTrue(direct.get(0) < direct.get(1), "the long prompt counts more: " + direct);
            assertEquals(direct.get(1), replaced.promptTokens(), "counted as the long prompt that was sent");
        }
    }

    /** Tries to change the request after it went upstream. */
    private static final class TooLate implements Plugin {
        @Override
        public void onResponseHeaders(Exchange exchange) {
            exchange.changeRequest().setHeader("x-late", "1");
        }
    }

    /** Fails with a bug in onClientIdentified. */
    private static final class Buggy implements Plugin {
        @Override
        public void onClientIdentified(Exchange exchange) {
            exchange.changeRequest().setHeader("api-key", "another client's key");
        }
    }

    @Test
    void aChangeAfterTheRequestWentUpstreamIsLoggedWithThePluginsConfigNameAndTheAnswerGoesOn() throws Exception {
        ProxyConfig config = ConfigLoader.parse(Configs.oneEndpoint(azure.baseUrl())
                + "plugins:\n  - name: LateChanger\n");
        PluginRegistry registry = PluginRegistry.create(List.of(PluginFactory.of("LateChanger", context -> new TooLate())),
                getClass().getClassLoader());
        try (CapturedLogs logs = CapturedLogs.start();
                ProxyServer server = ProxyServer.start(config, new InetSocketAddress("127.0.0.1", 0), null,
                        registry.createPipeline(config));
                HttpClient client = HttpClient.newHttpClient()) {
            HttpResponse<String> response = client.send(chat(server, Configs.TEAM_A_KEY), HttpResponse.BodyHandlers.ofString());

            assertEquals(200, response.statusCode());
            assertEquals(ANSWER, response.body());
            assertNull(azure.getAllServeEvents().getFirst().getRequest().getHeader("x-late"));
            String requestId = response.headers().firstValue("x-powerproxy-request-id").orElseThrow();
            List<String> failures = logs.containing("plugin LateChanger failed in onResponseHeaders for request " + requestId);
            assertEquals(1, failures.size(), String.join("\n", logs.lines()));
            assertTrue(failures.getFirst().contains("the request can only be changed in onRequestReceived and"
                    + " onClientIdentified"), failures.getFirst());
        }
    }

    @Test
    void aPluginThatFailsInOnClientIdentifiedIsNamedByItsConfigNameAndTheClientGets500() throws Exception {
        ProxyConfig config = ConfigLoader.parse(Configs.oneEndpoint(azure.baseUrl()) + "plugins:\n  - name: KeySwapper\n");
        PluginRegistry registry = PluginRegistry.create(List.of(PluginFactory.of("KeySwapper", context -> new Buggy())),
                getClass().getClassLoader());
        try (CapturedLogs logs = CapturedLogs.start();
                ProxyServer server = ProxyServer.start(config, new InetSocketAddress("127.0.0.1", 0), null,
                        registry.createPipeline(config));
                HttpClient client = HttpClient.newHttpClient()) {
            HttpResponse<String> response = client.send(chat(server, Configs.TEAM_A_KEY), HttpResponse.BodyHandlers.ofString());

            assertEquals(500, response.statusCode());
            String requestId = response.headers().firstValue("x-powerproxy-request-id").orElseThrow();
            AuthenticationTest.assertAzureError(response, "InternalServerError", "request id " + requestId);
            assertEquals(0, azure.getAllServeEvents().size(), "nothing went upstream");
            List<String> failures = logs.containing("plugin KeySwapper failed in onClientIdentified for request " + requestId);
            assertEquals(1, failures.size(), String.join("\n", logs.lines()));
            assertTrue(failures.getFirst().startsWith("ERROR"), failures.getFirst());
            assertTrue(failures.getFirst().contains("the header 'api-key' cannot be changed by a plugin"), failures.getFirst());
            assertTrue(logs.containing("request " + requestId + " failed").isEmpty(), "logged once, by the pipeline");
        }
    }

    private static HttpRequest chat(ProxyServer server, String key) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + CHAT))
                .timeout(Duration.ofSeconds(30)).header("api-key", key)
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[]}")).build();
    }
}
